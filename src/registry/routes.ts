// The OCI distribution HTTP edge (/v2/…). Repository names contain slashes, so one wildcard
// route dispatches on the raw path with anchored patterns; each entry declares the capability
// it needs and nothing runs before the authorizer has agreed. Errors become the spec's JSON body.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import type { ServerMetrics } from '../server/metrics.js';
import type { Authorizer, Principal, RequestContext } from '../identity/authorizer.js';
import type { Capability } from '../identity/capabilities.js';
import { setPrincipal } from '../audit/context.js';
import { OciError } from './errors.js';
import { MANIFEST_MEDIA_TYPES } from './manifest.js';
import type { ContentRange, RegistryService } from './service.js';

type Method = 'GET' | 'HEAD' | 'PUT' | 'PATCH' | 'POST' | 'DELETE';

interface Call {
  request: FastifyRequest;
  reply: FastifyReply;
  params: string[];
  query: URLSearchParams;
  context: RequestContext;
}

export interface V2Route {
  /** Label for metrics and logs. */
  id: string;
  methods: Method[];
  pattern: RegExp;
  capability: Capability;
  handle(call: Call): Promise<void>;
}

const NAME = '(.+)';
const API_VERSION = { 'Docker-Distribution-API-Version': 'registry/2.0' };

declare module 'fastify' {
  interface FastifyRequest {
    /** Registry route id for metrics, set by the dispatcher. */
    registryRoute?: string;
  }
}

/** Who pulled, passed explicitly: reads run outside the audit scope (see server.ts). */
export interface PullRequest {
  principal: Principal | undefined;
  requestId: string;
  ip: string;
  userAgent: string | undefined;
  path: string;
}

export interface RegistryRouteDeps {
  service: RegistryService;
  authorizer: Authorizer;
  metrics: ServerMetrics;
  /** Called after a manifest was served by GET (pull auditing), if enabled. */
  onPull?: (repository: string, digest: string, reference: string, request: PullRequest) => void;
}

export function registryRoutes(deps: RegistryRouteDeps): V2Route[] {
  const { service, authorizer, metrics } = deps;
  const named = (call: Call): string => {
    const name = call.params[0]!;
    service.checkName(name);
    return name;
  };
  const uploadHeaders = (reply: FastifyReply, name: string, id: string, size: number) =>
    reply
      .code(202)
      .header('Location', `/v2/${name}/blobs/uploads/${id}`)
      .header('Range', `0-${Math.max(size - 1, 0)}`)
      .header('Docker-Upload-UUID', id)
      .header('Content-Length', '0');

  return [
    {
      id: 'base',
      methods: ['GET', 'HEAD'],
      pattern: /^\/v2\/?$/,
      capability: 'authenticated',
      async handle({ reply }) {
        await reply.header('Content-Type', 'application/json').send('{}');
      },
    },
    {
      id: 'catalog',
      methods: ['GET'],
      pattern: /^\/v2\/_catalog$/,
      capability: 'registry.catalog',
      async handle({ reply, query }) {
        const limit = service.pageSize(query.get('n') ?? undefined);
        const repositories = await service.listRepositories(limit, query.get('last') ?? undefined);
        if (repositories.length === limit && limit > 0) {
          reply.header(
            'Link',
            `</v2/_catalog?n=${limit}&last=${encodeURIComponent(repositories.at(-1)!)}>; rel="next"`,
          );
        }
        await reply.send({ repositories });
      },
    },
    {
      id: 'tags',
      methods: ['GET'],
      pattern: new RegExp(`^/v2/${NAME}/tags/list$`),
      capability: 'repo.pull',
      async handle(call) {
        const name = named(call);
        const limit = service.pageSize(call.query.get('n') ?? undefined);
        const tags = await service.listTags(name, limit, call.query.get('last') ?? undefined);
        if (tags.length === limit && limit > 0) {
          call.reply.header(
            'Link',
            `</v2/${name}/tags/list?n=${limit}&last=${encodeURIComponent(tags.at(-1)!)}>; rel="next"`,
          );
        }
        await call.reply.send({ name, tags });
      },
    },
    {
      id: 'referrers',
      methods: ['GET'],
      pattern: new RegExp(`^/v2/${NAME}/referrers/([^/]+)$`),
      capability: 'repo.pull',
      async handle(call) {
        const name = named(call);
        const artifactType = call.query.get('artifactType') ?? undefined;
        const index = await service.referrers(name, call.params[1]!, artifactType);
        if (artifactType !== undefined) call.reply.header('OCI-Filters-Applied', 'artifactType');
        await call.reply
          .header('Content-Type', 'application/vnd.oci.image.index.v1+json')
          .send(Buffer.from(JSON.stringify(index)));
      },
    },
    {
      id: 'manifest',
      methods: ['GET', 'HEAD'],
      pattern: new RegExp(`^/v2/${NAME}/manifests/([^/]+)$`),
      capability: 'repo.pull',
      async handle(call) {
        const name = named(call);
        const reference = service.parseReference(call.params[1]!);
        const manifest = await service.getManifest(name, reference);
        const accept = acceptedTypes(call.request.headers.accept);
        if (accept && !accept.has(manifest.mediaType) && !accept.has('*/*')) {
          throw new OciError(
            'MANIFEST_UNKNOWN',
            `manifest is stored as ${manifest.mediaType}, which the Accept header does not include`,
            { detail: { mediaType: manifest.mediaType } },
          );
        }
        call.reply
          .header('Content-Type', manifest.mediaType)
          .header('Docker-Content-Digest', manifest.digest)
          .header('Content-Length', String(manifest.size))
          .header('ETag', `"${manifest.digest}"`);
        if (manifest.subject) call.reply.header('OCI-Subject', manifest.subject);
        if (call.request.method === 'HEAD') return void (await call.reply.send());
        metrics.bytesOut.inc({ route: 'manifest' }, manifest.size);
        if (deps.onPull) {
          deps.onPull(name, manifest.digest, call.params[1]!, {
            principal: await call.context.principal,
            requestId: call.request.id,
            ip: call.request.ip,
            userAgent: call.request.headers['user-agent'],
            path: (call.request.raw.url ?? '/').split('?')[0]!,
          });
        }
        await call.reply.send(manifest.payload);
      },
    },
    {
      id: 'manifest',
      methods: ['PUT'],
      pattern: new RegExp(`^/v2/${NAME}/manifests/([^/]+)$`),
      capability: 'repo.push',
      async handle(call) {
        const name = named(call);
        const reference = service.parseReference(call.params[1]!);
        const payload = await readLimited(call.request.raw, service.options.maxManifestBytes);
        metrics.bytesIn.inc({ route: 'manifest' }, payload.length);
        const result = await service.putManifest(
          name,
          reference,
          call.query.getAll('tag'),
          call.request.headers['content-type'],
          payload,
        );
        call.reply
          .code(201)
          .header('Location', `/v2/${name}/manifests/${result.digest}`)
          .header('Docker-Content-Digest', result.digest)
          .header('Content-Length', '0');
        if (result.subject) call.reply.header('OCI-Subject', result.subject);
        await call.reply.send();
      },
    },
    {
      id: 'manifest',
      methods: ['DELETE'],
      pattern: new RegExp(`^/v2/${NAME}/manifests/([^/]+)$`),
      capability: 'repo.delete',
      async handle(call) {
        const name = named(call);
        await service.deleteManifest(name, service.parseReference(call.params[1]!));
        await call.reply.code(202).header('Content-Length', '0').send();
      },
    },
    {
      id: 'upload-start',
      methods: ['POST'],
      pattern: new RegExp(`^/v2/${NAME}/blobs/uploads/?$`),
      capability: 'repo.push',
      async handle(call) {
        const name = named(call);
        const mount = call.query.get('mount');
        const from = call.query.get('from');
        if (mount !== null && from !== null && (await authorizer.canRead(call.context, from))) {
          const mounted = await service.mount(name, mount, from);
          if (mounted) {
            return void (await call.reply
              .code(201)
              .header('Location', `/v2/${name}/blobs/${mounted}`)
              .header('Docker-Content-Digest', mounted)
              .header('Content-Length', '0')
              .send());
          }
        }
        const digest = call.query.get('digest');
        if (digest !== null) {
          const length = contentLength(call.request);
          const stored = await service.monolithicUpload(name, digest, call.request.raw, length);
          metrics.bytesIn.inc({ route: 'upload' }, length ?? 0);
          return void (await call.reply
            .code(201)
            .header('Location', `/v2/${name}/blobs/${stored}`)
            .header('Docker-Content-Digest', stored)
            .header('Content-Length', '0')
            .send());
        }
        drain(call.request.raw);
        const upload = await service.startUpload(name);
        await uploadHeaders(call.reply, name, upload.id, 0).send();
      },
    },
    {
      id: 'upload',
      methods: ['GET'],
      pattern: new RegExp(`^/v2/${NAME}/blobs/uploads/([^/]+)$`),
      capability: 'repo.push',
      async handle(call) {
        const name = named(call);
        const upload = await service.uploadStatus(name, call.params[1]!);
        await uploadHeaders(call.reply, name, upload.id, upload.size).code(204).send();
      },
    },
    {
      id: 'upload',
      methods: ['PATCH'],
      pattern: new RegExp(`^/v2/${NAME}/blobs/uploads/([^/]+)$`),
      capability: 'repo.push',
      async handle(call) {
        const name = named(call);
        const id = call.params[1]!;
        const before = (await service.uploadStatus(name, id)).size;
        const upload = await service.appendChunk(
          name,
          id,
          call.request.raw,
          parseContentRange(call.request.headers['content-range']),
          contentLength(call.request),
        );
        metrics.bytesIn.inc({ route: 'upload' }, upload.size - before);
        await uploadHeaders(call.reply, name, upload.id, upload.size).send();
      },
    },
    {
      id: 'upload',
      methods: ['PUT'],
      pattern: new RegExp(`^/v2/${NAME}/blobs/uploads/([^/]+)$`),
      capability: 'repo.push',
      async handle(call) {
        const name = named(call);
        const digest = call.query.get('digest');
        if (digest === null) {
          throw new OciError('DIGEST_INVALID', 'completing an upload needs ?digest=<algorithm>:<hex>');
        }
        const length = contentLength(call.request);
        const stored = await service.completeUpload(
          name,
          call.params[1]!,
          digest,
          call.request.raw,
          parseContentRange(call.request.headers['content-range']),
          length,
        );
        metrics.bytesIn.inc({ route: 'upload' }, length ?? 0);
        await call.reply
          .code(201)
          .header('Location', `/v2/${name}/blobs/${stored}`)
          .header('Docker-Content-Digest', stored)
          .header('Content-Length', '0')
          .send();
      },
    },
    {
      id: 'upload',
      methods: ['DELETE'],
      pattern: new RegExp(`^/v2/${NAME}/blobs/uploads/([^/]+)$`),
      capability: 'repo.push',
      async handle(call) {
        const name = named(call);
        await service.cancelUpload(name, call.params[1]!);
        await call.reply.code(204).send();
      },
    },
    {
      id: 'blob',
      methods: ['GET', 'HEAD'],
      pattern: new RegExp(`^/v2/${NAME}/blobs/([^/]+)$`),
      capability: 'repo.pull',
      async handle(call) {
        const name = named(call);
        const digest = service.parseDigest(call.params[1]!).digest;
        const size = await service.blobSize(name, digest);
        const range = parseRange(call.request.headers.range, size);
        call.reply
          .header('Docker-Content-Digest', digest)
          .header('Content-Type', 'application/octet-stream')
          .header('Accept-Ranges', 'bytes')
          .header('ETag', `"${digest}"`)
          .header('Cache-Control', 'max-age=31536000');
        if (range === 'unsatisfiable') {
          throw new OciError('RANGE_INVALID', `requested range is outside the blob's ${size} bytes`, {
            headers: { 'Content-Range': `bytes */${size}` },
          });
        }
        const length = range ? range.end - range.start + 1 : size;
        call.reply.header('Content-Length', String(length));
        if (range) call.reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
        if (call.request.method === 'HEAD' || size === 0) return void (await call.reply.send());
        // The store writes straight into the response (reusing its buffers), so the reply is
        // hijacked only once the blob has opened; before that, errors still get an OCI body.
        const { reply } = call;
        await service.sendBlob(digest, reply.raw, range ?? undefined, () => {
          reply.hijack();
          for (const [name, value] of Object.entries(reply.getHeaders())) {
            if (value !== undefined)
              reply.raw.setHeader(name, typeof value === 'number' ? String(value) : value);
          }
          reply.raw.writeHead(reply.statusCode);
        });
        metrics.bytesOut.inc({ route: 'blob' }, length);
      },
    },
    {
      id: 'blob',
      methods: ['DELETE'],
      pattern: new RegExp(`^/v2/${NAME}/blobs/([^/]+)$`),
      capability: 'repo.delete',
      async handle(call) {
        const name = named(call);
        await service.deleteBlob(name, service.parseDigest(call.params[1]!).digest);
        await call.reply.code(202).header('Content-Length', '0').send();
      },
    },
  ];
}

/** Registers the /v2 dispatcher on a Fastify instance (inside its own encapsulated context). */
export function mountRegistry(app: FastifyInstance, deps: RegistryRouteDeps): V2Route[] {
  const routes = registryRoutes(deps);
  const dispatch = async (request: FastifyRequest, reply: FastifyReply) => {
    const raw = request.raw.url ?? '/';
    const q = raw.indexOf('?');
    const path = q === -1 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
    const method = request.method as Method;
    reply.headers(API_VERSION);
    let pathMatched = false;
    for (const route of routes) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      pathMatched = true;
      if (!route.methods.includes(method)) continue;
      request.registryRoute = route.id;
      const context: RequestContext = {
        ip: request.ip,
        requestId: request.id,
        authorization: request.headers.authorization,
      };
      const params = match.slice(1);
      if (route.capability !== 'public') {
        // Before anything reads the body or the name: refusals drain and close (error handler).
        setPrincipal(
          await deps.authorizer.authorize(
            context,
            route.capability,
            route.id === 'base' ? undefined : params[0],
          ),
        );
      }
      await route.handle({ request, reply, params, query, context });
      return;
    }
    request.registryRoute = pathMatched ? 'method-not-allowed' : 'not-found';
    drain(request.raw);
    if (pathMatched) {
      throw new OciError('UNSUPPORTED', `${method} is not supported on this endpoint`, { status: 405 });
    }
    throw new OciError('UNSUPPORTED', 'no such registry endpoint', { status: 404 });
  };

  void app.register((v2, _options, done) => {
    // Bodies are streamed by the handlers themselves: never parsed or buffered by Fastify.
    v2.removeAllContentTypeParsers();
    v2.addContentTypeParser('*', (_request, _payload, next) => next(null));
    v2.route({
      method: ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'],
      url: '/v2/*',
      exposeHeadRoute: false,
      config: { capability: 'dispatch' },
      handler: dispatch,
    });
    v2.route({
      method: ['GET', 'HEAD'],
      url: '/v2',
      exposeHeadRoute: false,
      config: { capability: 'dispatch' },
      handler: dispatch,
    });
    done();
  });
  return routes;
}

function acceptedTypes(header: string | undefined): Set<string> | undefined {
  if (!header) return undefined;
  const types = new Set(
    header
      .split(',')
      .map((part) => part.split(';')[0]!.trim().toLowerCase())
      .filter((t) => t.length > 0),
  );
  // Clients that ask only for unrelated types (e.g. application/json) get whatever is stored.
  const relevant = [...types].some((t) => MANIFEST_MEDIA_TYPES.includes(t) || t === '*/*');
  return relevant ? types : undefined;
}

function contentLength(request: FastifyRequest): number | undefined {
  const header = request.headers['content-length'];
  if (header === undefined) return undefined;
  if (!/^\d{1,16}$/.test(header)) throw new OciError('SIZE_INVALID', 'Content-Length is not a number');
  return Number(header);
}

function parseContentRange(header: string | undefined): ContentRange | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:bytes[ =])?(\d{1,16})-(\d{1,16})(?:\/(?:\d{1,16}|\*))?$/.exec(header.trim());
  if (!match) {
    throw new OciError('RANGE_INVALID', 'Content-Range must be <start>-<end>', { status: 416 });
  }
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) throw new OciError('RANGE_INVALID', 'Content-Range end is before its start');
  return { start, end };
}

function parseRange(header: string | undefined, size: number): ContentRange | undefined | 'unsatisfiable' {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d{0,16})-(\d{0,16})$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined; // multi-range or junk: send it all
  let start: number;
  let end: number;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0) return 'unsatisfiable';
    start = Math.max(size - suffix, 0);
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === '' ? size - 1 : Math.min(Number(match[2]), size - 1);
  }
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}

/** Reads a whole request body, refusing it as soon as it exceeds `limit` bytes. */
async function readLimited(stream: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    total += buffer.length;
    if (total > limit) {
      stream.resume();
      throw new OciError('SIZE_INVALID', `manifest larger than ${limit} bytes`, { status: 413 });
    }
    chunks.push(buffer);
  }
  return Buffer.concat(chunks, total);
}

function drain(stream: Readable): void {
  if (!stream.readableEnded) stream.resume();
}
