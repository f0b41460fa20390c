// The configuration schema: every setting Palisade reads, its type, bounds and default.
import { z } from 'zod';

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
    gc: gcSchema.default(gcSchema.parse({})),
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
    registry: registrySchema.default(registrySchema.parse({})),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
