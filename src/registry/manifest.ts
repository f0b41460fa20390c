// Manifest parsing and validation for the four manifest media types real clients push (OCI image
// manifest and index, Docker schema 2 manifest and manifest list), following the OCI image spec's
// schemas. The result names every blob and child manifest the manifest references, which the
// service checks exist before anything is stored.
import { z } from 'zod';
import { JsonTooDeepError, parseBoundedJson } from '../lib/bounded-json.js';
import { parseDigest } from '../lib/digest.js';
import { OciError } from './errors.js';

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaTypes.ociManifest,
  MediaTypes.ociIndex,
  MediaTypes.dockerManifest,
  MediaTypes.dockerList,
];

const INDEX_TYPES = new Set<string>([MediaTypes.ociIndex, MediaTypes.dockerList]);

const mediaType = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/,
    'not a media type',
  );
const digest = z.string().refine((d) => typeof parseDigest(d) === 'object', 'not a sha256/sha512 digest');
const annotations = z.record(z.string(), z.string());

const descriptor = z.object({
  mediaType,
  digest,
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  urls: z.array(z.string()).optional(),
  annotations: annotations.optional(),
  data: z.string().optional(),
  artifactType: mediaType.optional(),
  platform: z
    .object({
      architecture: z.string(),
      os: z.string(),
      'os.version': z.string().optional(),
      'os.features': z.array(z.string()).optional(),
      variant: z.string().optional(),
      features: z.array(z.string()).optional(),
    })
    .optional(),
});

const imageManifest = z.object({
  schemaVersion: z.literal(2),
  mediaType: mediaType.optional(),
  artifactType: mediaType.optional(),
  config: descriptor,
  layers: z.array(descriptor),
  subject: descriptor.optional(),
  annotations: annotations.optional(),
});

const imageIndex = z.object({
  schemaVersion: z.literal(2),
  mediaType: mediaType.optional(),
  artifactType: mediaType.optional(),
  manifests: z.array(descriptor),
  subject: descriptor.optional(),
  annotations: annotations.optional(),
});

export type Descriptor = z.infer<typeof descriptor>;

export interface ParsedManifest {
  mediaType: string;
  /** artifactType for referrers: explicit, or the config media type of an image manifest. */
  artifactType: string | undefined;
  subject: Descriptor | undefined;
  annotations: Record<string, string> | undefined;
  /** Blobs that must be present in the repository (config and layers). */
  blobs: Descriptor[];
  /** Manifests that must be present in the repository (index entries). */
  children: Descriptor[];
}

/** Layers a client may legitimately omit because they are fetched from elsewhere (`urls`). */
function isNonDistributable(d: Descriptor): boolean {
  return /nondistributable|foreign/.test(d.mediaType) && (d.urls?.length ?? 0) > 0;
}

function invalid(message: string, detail?: unknown): OciError {
  return new OciError('MANIFEST_INVALID', message, { detail });
}

/**
 * Parses and validates a manifest body. `contentType` is the request's Content-Type; when the
 * body carries a mediaType too, the two must agree.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let document: unknown;
  try {
    document = parseBoundedJson(body.toString('utf8'));
  } catch (error) {
    if (error instanceof JsonTooDeepError) throw invalid(`manifest is not acceptable: ${error.message}`);
    throw invalid('manifest is not valid JSON');
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw invalid('manifest must be a JSON object');
  }
  const declared = (document as { mediaType?: unknown }).mediaType;
  const header = contentType?.split(';')[0]?.trim().toLowerCase();
  const headerType = header && MANIFEST_MEDIA_TYPES.includes(header) ? header : undefined;
  if (typeof declared === 'string' && headerType && declared !== headerType) {
    throw invalid(`manifest mediaType ${declared} does not match Content-Type ${headerType}`);
  }
  const type = headerType ?? (typeof declared === 'string' ? declared : undefined);
  if (!type || !MANIFEST_MEDIA_TYPES.includes(type)) {
    throw invalid(
      `unsupported manifest media type ${type ?? header ?? '(none)'}; send Content-Type ${MANIFEST_MEDIA_TYPES.join(', ')}`,
    );
  }
  if ((type === MediaTypes.dockerManifest || type === MediaTypes.dockerList) && declared !== type) {
    throw invalid(`a Docker manifest must carry "mediaType": "${type}"`);
  }

  if (INDEX_TYPES.has(type)) {
    const result = imageIndex.safeParse(document);
    if (!result.success) throw invalid(describeIssue(result.error), result.error.issues.slice(0, 5));
    const index = result.data;
    return {
      mediaType: type,
      artifactType: index.artifactType,
      subject: index.subject,
      annotations: index.annotations,
      blobs: [],
      children: index.manifests,
    };
  }
  const result = imageManifest.safeParse(document);
  if (!result.success) throw invalid(describeIssue(result.error), result.error.issues.slice(0, 5));
  const manifest = result.data;
  if (
    manifest.config.mediaType === MediaTypes.ociEmpty &&
    manifest.artifactType === undefined &&
    type === MediaTypes.ociManifest
  ) {
    // Image spec: an artifact with the empty config MUST set artifactType.
    throw invalid('an OCI manifest with the empty config must set artifactType');
  }
  return {
    mediaType: type,
    artifactType: manifest.artifactType ?? manifest.config.mediaType,
    subject: manifest.subject,
    annotations: manifest.annotations,
    blobs: [manifest.config, ...manifest.layers.filter((l) => !isNonDistributable(l))],
    children: [],
  };
}

function describeIssue(error: z.ZodError): string {
  const first = error.issues[0];
  if (!first) return 'manifest does not match the schema';
  const path = first.path.length > 0 ? first.path.join('.') : '(root)';
  return `manifest field ${path}: ${first.message}`;
}
