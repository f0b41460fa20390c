// Runs the black-box OCI conformance checks against a real Palisade server listening on
// loopback, on every database under test.
import { afterAll, beforeAll, describe } from 'vitest';
import { testDialects } from '../../src/db/test-databases.js';
import { startTestServer, type TestServer } from '../../src/server/test-server.js';
import { defineConformanceSuite } from './oci-conformance.js';

describe.each(testDialects())('Palisade (%s)', (dialect) => {
  let t: TestServer;
  let baseUrl = '';
  beforeAll(async () => {
    // No implicit credentials: every request of the suite carries the admin token explicitly.
    t = await startTestServer(dialect, {}, { asAdmin: false });
    baseUrl = await t.server.listen();
  });
  afterAll(async () => t.dispose());
  defineConformanceSuite(() => ({
    baseUrl,
    headers: { Authorization: `Bearer ${t.adminToken}` },
    namespace: 'conformance/test',
    crossMountNamespace: 'conformance/mount-target',
  }));
});
