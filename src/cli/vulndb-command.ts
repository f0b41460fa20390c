// `palisade vulndb import PATH|URL`: loads OSV records (a JSON file, a directory of them, or a zip
// such as osv.dev's per-ecosystem all.zip) into the server's vulnerability database. Host-local,
// like `palisade admin`: it opens the database itself; the running server picks up the
// re-evaluation jobs the import queues. A URL is downloaded first (bounded, with a progress bar).
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { JobStore } from '../jobs/store.js';
import { isLoopbackHost } from '../lib/outbound.js';
import { ScanStore } from '../scanning/store.js';
import { VulnerabilityImporter, type ImportResult } from '../scanning/vulndb/importer.js';
import { openRecordSource, SourceError } from '../scanning/vulndb/record-sources.js';
import { openHostLocal } from '../server/host-local.js';
import { addHostOptions, configFromFlags, type HostFlags } from './host-options.js';

interface ImportFlags extends HostFlags {
  output: 'table' | 'json';
  maxDownload: string;
}

export function vulndbCommand(): Command {
  const vulndb = new Command('vulndb').description('the vulnerability database (OSV records)');
  vulndb.addCommand(
    addHostOptions(
      new Command('import')
        .description(
          'import OSV records from a JSON file, a directory or a zip (path or https URL); host-local',
        )
        .argument(
          '<source>',
          'e.g. ./osv/Debian/all.zip, ./advisories/ or https://mirror.example.com/Alpine/all.zip',
        ),
    )
      .addOption(
        new Option('--output <format>', 'summary format').choices(['table', 'json']).default('table'),
      )
      .option('--max-download <bytes>', 'largest download accepted from a URL', String(4 * 1024 ** 3))
      .addHelpText(
        'after',
        '\nRecords are upserted by id and modified time (re-importing is cheap); withdrawn records\n' +
          'stop matching; images holding affected packages are re-evaluated by the server.\n' +
          'Examples:\n  palisade vulndb import ./all.zip --data-dir /var/lib/palisade\n' +
          '  palisade vulndb import https://osv-vulnerabilities.storage.googleapis.com/Alpine/all.zip\n',
      )
      .action(async (source: string, flags: ImportFlags) => {
        let path = source;
        let tempDir: string | undefined;
        try {
          if (/^https?:\/\//i.test(source)) {
            tempDir = await mkdtemp(join(tmpdir(), 'palisade-vulndb-'));
            path = join(tempDir, 'download');
            await download(source, path, Number(flags.maxDownload), flags.output === 'table');
          }
          const records = await openRecordSource(path).catch((error: unknown) => {
            if (error instanceof SourceError) throw new Error(error.message);
            throw error;
          });
          const local = await openHostLocal(configFromFlags(flags));
          try {
            const store = new ScanStore(local.database.db);
            const importer = new VulnerabilityImporter(store, local.audit, new JobStore(local.database.db));
            const bar =
              flags.output === 'table' && process.stderr.isTTY
                ? new SingleBar({ format: 'importing [{bar}] {value}/{total} files', stream: process.stderr })
                : undefined;
            bar?.start(records.total, 0);
            const result = await importer.import(source, records, (p) => {
              bar?.setTotal(p.total);
              bar?.update(p.done);
            });
            bar?.stop();
            report(result, flags.output, await store.vulnerabilityCount(store.db));
          } finally {
            await local.close();
          }
        } finally {
          if (tempDir) await rm(tempDir, { recursive: true, force: true });
        }
      }),
  );
  return vulndb;
}

function report(result: ImportResult, output: 'table' | 'json', total: number): void {
  if (output === 'json') {
    process.stdout.write(`${JSON.stringify({ ...result, databaseRecords: total }, null, 2)}\n`);
    return;
  }
  process.stdout.write(
    `imported ${result.source}: ${result.read} read, ${result.inserted} new, ${result.updated} updated, ` +
      `${result.unchanged} unchanged, ${result.withdrawn} withdrawn, ${result.invalid} invalid ` +
      `in ${(result.durationMs / 1000).toFixed(1)} s; ${result.imagesQueued} image(s) queued for re-evaluation; ` +
      `${total} records in the database\n`,
  );
  for (const error of result.errors.slice(0, 10)) process.stderr.write(`palisade: skipped ${error}\n`);
  if (result.errors.length > 10)
    process.stderr.write(`palisade: … and ${result.invalid - 10} more invalid records\n`);
}

async function download(url: string, path: string, maxBytes: number, progress: boolean): Promise<void> {
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:' && !isLoopbackHost(parsed.hostname)) {
    throw new Error(`${url}: use https (plain http only to this machine)`);
  }
  const response = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(30 * 60_000) }).catch(
    (error: unknown) => {
      throw new Error(`cannot download ${url}: ${error instanceof Error ? error.message : String(error)}`);
    },
  );
  if (!response.ok || !response.body)
    throw new Error(`cannot download ${url}: the server answered ${response.status}`);
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > maxBytes) throw new Error(`${url} is ${declared} bytes, over --max-download ${maxBytes}`);
  const bar =
    progress && process.stderr.isTTY
      ? new SingleBar({ format: 'downloading [{bar}] {value}/{total} bytes', stream: process.stderr })
      : undefined;
  bar?.start(declared || 0, 0);
  let received = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      received += chunk.length;
      if (received > maxBytes) return callback(new Error(`${url} is larger than --max-download ${maxBytes}`));
      bar?.update(received);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(response.body as never), limit, createWriteStream(path, { mode: 0o600 }));
  } finally {
    bar?.stop();
  }
}
