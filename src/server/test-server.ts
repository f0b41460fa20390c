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
  /** A break-glass admin access token (1 h) minted by the server under test. */
  adminToken: string;
  dataDir: string;
  database: TestDatabase;
  dispose(): Promise<void>;
}

export interface TestServerOptions extends ServerOptions {
  /**
   * Requests that carry no Authorization header get the admin token added (default true): tests
   * of the registry itself then run through real token verification without repeating it.
   * Identity tests set false to see exactly what an anonymous caller sees.
   */
  asAdmin?: boolean;
}

export async function startTestServer(
  dialect: Dialect,
  overrides: Partial<ConfigInput> = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const database = await createTestDatabase(dialect);
  const dataDir = mkdtempSync(join(tmpdir(), 'palisade-test-'));
  const config = configSchema.parse({
    dataDir,
    databaseUrl: database.url,
    logLevel: 'silent',
    port: 0,
    publicUrl: 'http://palisade.test',
    ...overrides,
    registry: { ...overrides.registry, gc: { enabled: false, ...overrides.registry?.gc } },
  });
  const server = await createServer(config, options);
  const adminToken = (await server.identity.breakGlassToken(3600)).token;
  if (options.asAdmin ?? true) {
    server.app.addHook('onRequest', (request, _reply, done) => {
      request.headers.authorization ??= `Bearer ${adminToken}`;
      done();
    });
  }
  await server.app.ready();
  // What start-up recorded outside a request (the break-glass token) is chained before tests look.
  await server.audit.settle();
  return {
    server,
    adminToken,
    dataDir,
    database,
    async dispose() {
      await server.close();
      await database.dispose();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
