// The configuration schema: every setting Palisade reads, its type, bounds and default.
import { z } from 'zod';
import { isCidr } from '../lib/outbound.js';

const MiB = 1024 * 1024;

const gcSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Seconds between online collections. */
    intervalSeconds: z
      .number()
      .int()
      .min(10)
      .max(7 * 86400)
      .default(3600),
    /** Unreferenced blobs and untagged manifests younger than this are never collected. */
    gracePeriodSeconds: z
      .number()
      .int()
      .min(0)
      .max(90 * 86400)
      .default(86400),
    /** Upload sessions idle for longer than this are discarded. */
    uploadExpirySeconds: z
      .number()
      .int()
      .min(60)
      .max(30 * 86400)
      .default(86400),
    /** Whether manifests without tags (and not referenced by an index or as a referrer) are collected. */
    deleteUntagged: z.boolean().default(true),
  })
  .strict();

const registrySchema = z
  .object({
    deleteEnabled: z.boolean().default(true),
    maxBlobBytes: z
      .number()
      .int()
      .min(1)
      .default(64 * 1024 * MiB),
    maxManifestBytes: z
      .number()
      .int()
      .min(1024)
      .max(64 * MiB)
      .default(4 * MiB),
    maxPageSize: z.number().int().min(1).max(100_000).default(1000),
    /**
     * Big blobs bypass the page cache (O_DIRECT) when uploaded (`writes`), or when uploaded and
     * served (`on`); `off` (the default) keeps to the page cache. Ignored where the filesystem
     * refuses O_DIRECT. BENCHMARKS.md has what each costs and buys.
     */
    directIo: z.enum(['on', 'writes', 'off']).default('off'),
    gc: gcSchema.default(gcSchema.parse({})),
  })
  .strict();

const federationSchema = z
  .object({
    /** Clock difference tolerated when checking a workload token's exp, nbf and iat. */
    clockSkewSeconds: z.number().int().min(0).max(300).default(60),
    /** Workload tokens that live (or have lived) longer than this are refused. */
    maxSubjectTokenLifetimeSeconds: z
      .number()
      .int()
      .min(60)
      .max(7 * 86400)
      .default(86400),
    /** A workload issuer's discovery and JWKS must answer within this. */
    issuerTimeoutSeconds: z.number().int().min(1).max(30).default(5),
  })
  .strict();

const identitySchema = z
  .object({
    /**
     * Key-encryption key for the issuer's signing keys: 32 bytes, base64 or base64url. When unset,
     * one is generated at first start into <dataDir>/keys/kek (mode 0600): fine for one server,
     * but replicas sharing a PostgreSQL database must all be given the same key here.
     */
    keyEncryptionKey: z
      .string()
      .regex(/^[A-Za-z0-9+/_-]{43}=?$/, 'must be 32 bytes encoded as base64 or base64url')
      .optional(),
    /** How long one signing key signs before the next takes over; it stays published for 1 h more. */
    signingKeyRotationSeconds: z
      .number()
      .int()
      .min(2 * 3600)
      .max(365 * 86400)
      .default(30 * 86400),
    /** Lifetime of access and registry tokens; never more than an hour. */
    accessTokenTtlSeconds: z.number().int().min(60).max(3600).default(900),
    /** A web session ends after this long without a request … */
    sessionIdleSeconds: z.number().int().min(60).max(86400).default(1800),
    /** … and this long after sign-in in any case. */
    sessionAbsoluteSeconds: z
      .number()
      .int()
      .min(300)
      .max(7 * 86400)
      .default(12 * 3600),
    /** A CLI refresh token dies after this long unused (never more than 12 h) … */
    refreshIdleSeconds: z
      .number()
      .int()
      .min(300)
      .max(12 * 3600)
      .default(12 * 3600),
    /** … and its whole rotation family this long after the sign-in it came from. */
    refreshAbsoluteSeconds: z
      .number()
      .int()
      .min(3600)
      .max(90 * 86400)
      .default(7 * 86400),
    /** Requests per minute from one client address to each unauthenticated sign-in endpoint. */
    rateLimitPerMinute: z.number().int().min(1).max(100_000).default(30),
    /** Requests per minute from one client address to /token (registry clients ask often). */
    tokenRateLimitPerMinute: z.number().int().min(1).max(1_000_000).default(1200),
    /** Workload identity federation (RFC 8693 exchange of CI, cluster and cloud OIDC tokens). */
    federation: federationSchema.default(federationSchema.parse({})),
    /** The `service` registry clients name when they ask /token for a token (and its audience). */
    registryService: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,255}$/, 'letters, digits and . _ : - only')
      .default('palisade'),
  })
  .strict();

const deliverySchema = z
  .object({
    /** A sink must answer within this long. */
    timeoutSeconds: z.number().int().min(1).max(60).default(10),
    /** At most this much of a sink's answer is read. */
    maxResponseBytes: z
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024)
      .default(64 * 1024),
    /** Failures are retried for this long; then the subscription is marked failing and waits. */
    retryHours: z.number().min(0.001).max(720).default(24),
    /** The first retry waits about this long; each next one twice as long (with jitter)… */
    backoffInitialMilliseconds: z.number().int().min(10).max(600_000).default(1000),
    /** … up to this. */
    backoffMaxSeconds: z.number().int().min(1).max(86_400).default(300),
    /** Subscriptions one server delivers to at once. */
    concurrency: z.number().int().min(1).max(64).default(4),
    /** How often the worker looks for undelivered events besides being woken by new ones. */
    pollMilliseconds: z.number().int().min(10).max(60_000).default(500),
  })
  .strict();

const auditSchema = z
  .object({
    /** A signed checkpoint of the chain head after this many events … */
    checkpointEveryEvents: z.number().int().min(1).max(1_000_000).default(1000),
    /** … or this many seconds, whichever comes first (only when there are new events). */
    checkpointEverySeconds: z.number().int().min(10).max(86400).default(60),
    /** Record registry pulls (manifest GETs) too; written in batches, not in the request's path. */
    recordPulls: z.boolean().default(true),
    /** Events older than this are pruned (whole prefixes of the chain, behind a signed anchor). */
    retentionDays: z.number().int().min(1).max(36_500).default(400),
    /** Legal hold: nothing is pruned while it is on. */
    legalHold: z.boolean().default(false),
    /** Delivery of events to subscribers' sinks. */
    delivery: deliverySchema.default(deliverySchema.parse({})),
  })
  .strict();

const outboundSchema = z
  .object({
    /**
     * Networks (CIDR) the server may contact although they are not public addresses — an event
     * sink or a Kubernetes issuer at 10.20.0.0/16, say. Everything private, loopback (outside
     * development mode), link-local or reserved is refused otherwise.
     */
    allowedNetworks: z
      .array(z.string().max(50).refine(isCidr, 'must be a CIDR network such as 10.20.0.0/16'))
      .max(100)
      .default([]),
  })
  .strict();

const scanningSchema = z
  .object({
    /** Analyse every pushed image (SBOMs as referrers, vulnerability findings). */
    enabled: z.boolean().default(true),
    /** Analyses run at once by this server (each keeps one core busy while it decompresses). */
    concurrency: z.number().int().min(1).max(32).default(1),
    /** How often the job worker looks for queued work that nothing announced. */
    jobPollMilliseconds: z.number().int().min(10).max(600_000).default(2000),
    /** Bounds on one image's analysis; a layer over them fails its analysis with the reason. */
    maxDecompressedBytes: z
      .number()
      .int()
      .min(1024 * 1024)
      .default(16 * 1024 ** 3),
    maxEntries: z.number().int().min(1000).default(2_000_000),
    /** OSV mirrors imported on a schedule (e.g. osv.dev's per-ecosystem all.zip, or your copy). */
    vulndb: z
      .object({
        sources: z
          .array(
            z
              .object({
                url: z
                  .string()
                  .max(2048)
                  .url()
                  .refine(
                    (u) => /^https?:\/\//i.test(u),
                    'must be an https URL (http only to loopback in development mode)',
                  ),
                intervalHours: z
                  .number()
                  .min(0.05)
                  .max(24 * 30)
                  .default(24),
              })
              .strict(),
          )
          .max(50)
          .default([]),
        /** Largest archive accepted from a mirror. */
        maxDownloadBytes: z
          .number()
          .int()
          .min(1024)
          .default(4 * 1024 ** 3),
        downloadTimeoutSeconds: z
          .number()
          .int()
          .min(10)
          .max(24 * 3600)
          .default(3600),
      })
      .strict()
      .default({ sources: [], maxDownloadBytes: 4 * 1024 ** 3, downloadTimeoutSeconds: 3600 }),
  })
  .strict();

export const configSchema = z
  .object({
    host: z.string().min(1).max(255).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(5000),
    dataDir: z.string().min(1).default('./palisade-data'),
    /** postgres://… or a SQLite file; defaults to <dataDir>/palisade.db. */
    databaseUrl: z.string().min(1).optional(),
    /** Development mode: relaxes rules meant for production and says so at start. */
    dev: z.boolean().default(false),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Seconds to let in-flight requests finish on SIGTERM/SIGINT. */
    shutdownTimeoutSeconds: z.number().int().min(0).max(3600).default(30),
    /**
     * The URL clients reach this server at (scheme, host, port, no path): the token issuer and the
     * realm registry clients are sent to. Defaults to http://<host>:<port> as listened on.
     */
    publicUrl: z
      .string()
      .max(2048)
      .url()
      .refine((value) => {
        const url = new URL(value);
        return (
          (url.protocol === 'https:' || url.protocol === 'http:') &&
          url.pathname === '/' &&
          !url.search &&
          !url.hash &&
          !url.username &&
          !url.password
        );
      }, 'must be an http(s) origin such as https://registry.example.com, without path, query or credentials')
      .optional(),
    registry: registrySchema.default(registrySchema.parse({})),
    identity: identitySchema.default(identitySchema.parse({})),
    audit: auditSchema.default(auditSchema.parse({})),
    outbound: outboundSchema.default(outboundSchema.parse({})),
    scanning: scanningSchema.default(scanningSchema.parse({})),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
