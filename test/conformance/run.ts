// CLI runner for the OCI Distribution v1.1 conformance checks, usable against any registry without vitest:
//   npx tsx test/conformance/run.ts --url http://127.0.0.1:5000 [--namespace conformance/test] [--json]
// Runs the checks from oci-conformance.ts in order, prints PASS/FAIL per check and exits 1 if any fail.
import { parseArgs } from 'node:util';
import { conformanceChecks, createContext, runCheck } from './oci-conformance.js';
import type { ConformanceResult } from './oci-conformance.js';

const USAGE = `Usage: tsx test/conformance/run.ts --url <registry base URL> [options]

Runs the OCI Distribution Specification v1.1 conformance checks against a live registry.
The checks push, tag and delete content in the namespaces they are given.

Options:
  --url <url>              registry base URL, e.g. http://127.0.0.1:5000 (required)
  --namespace <name>       repository to test in (default: conformance/test)
  --cross-namespace <name> repository to mount blobs into (default: <namespace>-mount)
  --header <name: value>   extra header sent with every request (repeatable), e.g. "Authorization: Bearer …"
  --json                   print a JSON array of {id, name, ok, error, notes} instead of text
  -h, --help               show this help
`;

interface Options {
  url: string;
  namespace: string;
  crossNamespace: string;
  headers: Record<string, string>;
  json: boolean;
}

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      url: { type: 'string' },
      namespace: { type: 'string', default: 'conformance/test' },
      'cross-namespace': { type: 'string' },
      header: { type: 'string', multiple: true, default: [] },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) return null;
  if (!values.url) throw new Error('--url is required');
  const headers: Record<string, string> = {};
  for (const h of values.header) {
    const i = h.indexOf(':');
    if (i <= 0) throw new Error(`--header must look like "Name: value", got "${h}"`);
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return {
    url: values.url,
    namespace: values.namespace,
    crossNamespace: values['cross-namespace'] ?? `${values.namespace}-mount`,
    headers,
    json: values.json,
  };
}

async function main(): Promise<number> {
  let options: Options | null;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (options === null) {
    process.stdout.write(USAGE);
    return 0;
  }

  const ctx = createContext({
    baseUrl: options.url,
    namespace: options.namespace,
    crossMountNamespace: options.crossNamespace,
    headers: options.headers,
  });
  const results: ConformanceResult[] = [];
  for (const check of conformanceChecks) {
    const result = await runCheck(ctx, check);
    results.push(result);
    if (options.json) continue;
    process.stdout.write(`${result.ok ? 'PASS' : 'FAIL'}  ${result.id.padEnd(18)} ${result.name}\n`);
    if (result.error !== null) process.stdout.write(`      ✗ ${result.error}\n`);
    for (const n of result.notes) process.stdout.write(`      note: ${n}\n`);
  }

  const failed = results.filter((r) => !r.ok).length;
  if (options.json) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  } else {
    process.stdout.write(
      `\n${results.length - failed} passed, ${failed} failed, ${results.length} checks (${options.url})\n`,
    );
  }
  return failed > 0 ? 1 : 0;
}

// Piping into `head` closes stdout early; that is not a failure worth a stack trace.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});
process.exitCode = await main();
