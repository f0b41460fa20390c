// Test helper: an in-process server on a fresh data directory and database, driven through
// Fastify's inject (no sockets). Used by every HTTP-level test of the domains.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema, type ConfigInput } from '../config/schema.js';
import { createTestDatabase, type TestDatabase } from '../db/test-databases.js';
import type { Dialect } from '../db/dialect.js';
import { createServer, type PalisadeServer, type ServerOptions } from './server.js';

export interface TestServer {
  server: PalisadeServer;
  dataDir: string;
  database: TestDatabase;
  dispose(): Promise<void>;
}

export async function startTestServer(
  dialect: Dialect,
  overrides: Partial<ConfigInput> = {},
  options: ServerOptions = {},
): Promise<TestServer> {
  const database = await createTestDatabase(dialect);
  const dataDir = mkdtempSync(join(tmpdir(), 'palisade-test-'));
  const config = configSchema.parse({
    dataDir,
    databaseUrl: database.url,
    logLevel: 'silent',
    port: 0,
    ...overrides,
    registry: { ...overrides.registry, gc: { enabled: false, ...overrides.registry?.gc } },
  });
  const server = await createServer(config, options);
  await server.app.ready();
  return {
    server,
    dataDir,
    database,
    async dispose() {
      await server.close();
      await database.dispose();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
