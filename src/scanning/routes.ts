// The HTTP edge of scanning: an image's vulnerability report and its SBOMs, under
// /api/v1/repositories/<name>/manifests/<reference>/…, readable by whoever may pull the image.
// The repository name holds slashes, so one wildcard route parses the path with anchored
// patterns, as the /v2 dispatcher does. A tag resolves to its manifest; an index reports each
// platform's image.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { OciError } from '../registry/errors.js';
import { ScanError } from './errors.js';
import { MediaTypes } from '../registry/manifest.js';
import type { RegistryService } from '../registry/service.js';
import type { ImageReport, ScanService } from './service.js';

const PREFIX = '/api/v1/repositories/';
const PATH = /^(?<name>.+)\/manifests\/(?<reference>[^/]+)\/(?<what>vulnerabilities|sbom)$/;
const INDEX_TYPES = new Set<string>([MediaTypes.ociIndex, MediaTypes.dockerList]);

export interface ScanningRoutesOptions {
  scanning: ScanService;
  registry: RegistryService;
}

interface Parsed {
  repository: string;
  reference: string;
  what: 'vulnerabilities' | 'sbom';
}

function parsePath(request: FastifyRequest): Parsed {
  const raw = request.url.split('?')[0]!.slice(PREFIX.length);
  const match = PATH.exec(raw);
  if (!match?.groups) {
    throw new OciError(
      'NAME_INVALID',
      'expected /api/v1/repositories/<name>/manifests/<digest or tag>/vulnerabilities or …/sbom',
    );
  }
  let reference: string;
  try {
    reference = decodeURIComponent(match.groups.reference!);
  } catch {
    throw new OciError('MANIFEST_INVALID', 'the reference in the path is not valid percent-encoding');
  }
  return {
    repository: match.groups.name!,
    reference,
    what: match.groups.what as Parsed['what'],
  };
}

export interface IndexReport {
  repository: string;
  digest: string;
  mediaType: string;
  manifests: (ImageReport & { platform?: unknown })[];
}

export function mountScanning(app: FastifyInstance, options: ScanningRoutesOptions): void {
  const { scanning, registry } = options;
  const target = (request: FastifyRequest) => {
    const { repository } = parsePath(request);
    registry.checkName(repository);
    return repository;
  };

  app.get(`${PREFIX}*`, { config: { capability: 'repo.pull', target } }, async (request, reply) => {
    const { repository, reference, what } = parsePath(request);
    const manifest = await registry.getManifest(repository, registry.parseReference(reference));
    const query = request.query as Record<string, unknown>;
    if (what === 'sbom') {
      const format = query.format ?? 'spdx';
      if (format !== 'spdx' && format !== 'cyclonedx') {
        throw new ScanError('PALISADE_BAD_REQUEST', 'format must be spdx or cyclonedx');
      }
      if (INDEX_TYPES.has(manifest.mediaType)) {
        throw new ScanError(
          'PALISADE_BAD_REQUEST',
          'this is an image index: ask for the SBOM of one platform’s manifest (its digest is in the index)',
        );
      }
      const document = await scanning.sbom({ repository, digest: manifest.digest }, format);
      if (!document) {
        throw new OciError(
          'MANIFEST_UNKNOWN',
          'no SBOM yet: the image has not been analysed (or its analysis failed)',
          {
            status: 404,
            detail: { digest: manifest.digest },
          },
        );
      }
      return reply
        .header(
          'Content-Type',
          format === 'spdx' ? 'application/spdx+json' : 'application/vnd.cyclonedx+json',
        )
        .header('Docker-Content-Digest', manifest.digest)
        .send(document);
    }
    if (!INDEX_TYPES.has(manifest.mediaType)) {
      return scanning.report({ repository, digest: manifest.digest });
    }
    const index = JSON.parse(manifest.payload.toString('utf8')) as {
      manifests?: { digest: string; mediaType: string; platform?: unknown }[];
    };
    const manifests = [];
    for (const child of index.manifests ?? []) {
      if (INDEX_TYPES.has(child.mediaType)) continue;
      const report = await scanning.report({ repository, digest: child.digest });
      manifests.push({ ...report, ...(child.platform ? { platform: child.platform } : {}) });
    }
    const result: IndexReport = {
      repository,
      digest: manifest.digest,
      mediaType: manifest.mediaType,
      manifests,
    };
    return result;
  });
}
