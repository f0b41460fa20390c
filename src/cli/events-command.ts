// `palisade events list|export` and `palisade audit verify`: read the audit log (who did what, as
// which original identity), export it with a progress bar, and check that it was not touched —
// online against the server, or offline against an export with its checkpoints and JWKS.
import { createWriteStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { Command, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import type { JSONWebKeySet } from 'jose';
import { readExport, rowFromLine, type ReadExport } from '../audit/export.js';
import { verifyExport, type CheckpointRecord } from '../audit/verify-export.js';
import { api, ApiClient, print, type ApiFlags } from './api-client.js';
import { subscriptionsCommand } from './subscriptions-command.js';

interface FilterFlags extends ApiFlags {
  since?: string;
  until?: string;
  type?: string;
  actor?: string;
  subject?: string;
  org?: string;
}

function filters(command: Command): Command {
  return command
    .option('--since <time>', 'from this time (RFC 3339, e.g. 2026-11-01T00:00:00Z)')
    .option('--until <time>', 'before this time')
    .option('--type <prefix>', 'event type prefix, e.g. dev.palisade.registry.')
    .option('--actor <subject>', 'who acted, e.g. user:<id>')
    .option('--subject <resource>', 'the resource, e.g. acme/app@sha256:…')
    .option(
      '--org <organization>',
      'one organization (needs events.read there; without it, the whole log: administrators)',
    );
}

function query(flags: FilterFlags, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams(extra);
  for (const key of ['since', 'until', 'type', 'actor', 'subject', 'org'] as const) {
    const value = flags[key];
    if (value) params.set(key, value);
  }
  return params.toString();
}

interface ExportedEvent {
  auditseq: number;
  time: string;
  type: string;
  subject?: string;
  data: {
    actor: { subject: string; kind: string; act: Record<string, unknown> };
    request: { ip?: string } | null;
  };
}

export function eventsCommand(): Command {
  const events = new Command('events').description('read and export the audit log');
  events.addCommand(
    filters(
      api(
        new Command('list').description(
          'list events, newest last (e.g. who pushed a digest: --subject acme/app@sha256:…)',
        ),
      ),
    )
      .option('--limit <n>', 'at most this many', '100')
      .action(async (flags: FilterFlags & { limit: string }) => {
        const client = await ApiClient.from(flags);
        const page = await client.request<{ events: ExportedEvent[] }>(
          'GET',
          `/api/v1/events?${query(flags, { limit: flags.limit })}`,
        );
        print(
          flags.output,
          page.events,
          page.events.map((e) => ({
            seq: e.auditseq,
            time: e.time,
            type: e.type.replace(/^dev\.palisade\./, '').replace(/\.v\d+$/, ''),
            subject: e.subject ?? '',
            actor: e.data.actor.subject,
            identity: [e.data.actor.act.iss, e.data.actor.act.sub].filter(Boolean).join(' '),
            ip: e.data.request?.ip ?? '',
          })),
        );
      }),
  );
  events.addCommand(
    filters(
      api(
        new Command('export').description(
          'export events as NDJSON (or a CloudEvents batch), with the checkpoints and JWKS to verify it offline',
        ),
      ),
    )
      .addOption(
        new Option('--format <format>', 'ndjson or batch (application/cloudevents-batch+json)')
          .choices(['ndjson', 'batch'])
          .default('ndjson'),
      )
      .option(
        '--file <path>',
        'write here (and <path>.checkpoints.json, <path>.jwks.json beside it) instead of stdout',
      )
      .action(async (flags: FilterFlags & { format: 'ndjson' | 'batch'; file?: string }) => {
        const client = await ApiClient.from(flags);
        const response = await client.stream(
          `/api/v1/events/export?${query(flags, { format: flags.format })}`,
        );
        const total = Number(response.headers.get('palisade-audit-head') ?? 0);
        const out = flags.file ? createWriteStream(flags.file, { mode: 0o600 }) : process.stdout;
        const bar =
          flags.file && process.stderr.isTTY
            ? new SingleBar({ format: 'exporting [{bar}] {value}/{total} events', stream: process.stderr })
            : undefined;
        bar?.start(total, 0);
        let count = 0;
        let pending = '';
        for await (const part of response.body!) {
          const chunk = Buffer.from(part as Uint8Array);
          const text = pending + chunk.toString('utf8');
          const lines = text.split('\n');
          pending = lines.pop()!;
          for (const line of lines) if (line.includes('"auditseq"')) count += 1;
          bar?.update(count);
          if (!out.write(chunk)) await once(out, 'drain');
        }
        bar?.stop();
        if (flags.file) {
          out.end();
          await once(out, 'finish');
          const { checkpoints, anchor } = await client.request<{
            checkpoints: CheckpointRecord[];
            anchor: CheckpointRecord | null;
          }>('GET', '/api/v1/audit/checkpoints?limit=10000');
          const { issuer } = await client.request<{ issuer: string }>(
            'GET',
            '/.well-known/openid-configuration',
          );
          writeFileSync(
            `${flags.file}.checkpoints.json`,
            JSON.stringify({ issuer, checkpoints, anchor }, null, 2),
          );
          const jwks = await client.request<JSONWebKeySet>('GET', '/.well-known/jwks.json');
          writeFileSync(`${flags.file}.jwks.json`, JSON.stringify(jwks, null, 2));
          process.stderr.write(
            `palisade: exported ${count} events to ${flags.file} (checkpoints and JWKS beside it)\n`,
          );
        }
      }),
  );
  events.addCommand(subscriptionsCommand());
  return events;
}

/** A CloudEvents batch export (a JSON array): each event is checked the long way. */
function fromBatch(text: string): ReadExport {
  const rows = (JSON.parse(text) as unknown[]).map((event, i) => {
    try {
      return rowFromLine(JSON.stringify(event));
    } catch (error) {
      throw new Error(
        `event ${i + 1} of the export is not an exported event: ${error instanceof Error ? error.message : 'unreadable'}`,
        { cause: error },
      );
    }
  });
  // Re-serialised events: the chain hashes each as given, and canonicalises those that differ.
  return { rows };
}

export function auditCommand(): Command {
  const audit = new Command('audit').description('check that the audit log was not touched');
  audit.addCommand(
    api(
      new Command('verify').description(
        'verify the hash chain and the signed checkpoints; names the first bad sequence number',
      ),
    )
      .option(
        '--export <file>',
        'verify this export offline (with <file>.checkpoints.json and <file>.jwks.json, or --jwks)',
      )
      .option('--jwks <file>', "the issuer's JWKS, when not beside the export")
      .action(async (flags: ApiFlags & { export?: string; jwks?: string }) => {
        let exported: ReadExport;
        let checkpoints: CheckpointRecord[];
        let anchor: CheckpointRecord | null;
        let jwks: JSONWebKeySet;
        let issuer: string;
        if (flags.export) {
          const bytes = readFileSync(flags.export);
          exported = bytes.toString('latin1', 0, 64).trimStart().startsWith('[')
            ? fromBatch(bytes.toString('utf8'))
            : readExport(bytes);
          const sidecar = `${flags.export}.checkpoints.json`;
          const cp = existsSync(sidecar)
            ? (JSON.parse(readFileSync(sidecar, 'utf8')) as {
                issuer: string;
                checkpoints: CheckpointRecord[];
                anchor?: CheckpointRecord | null;
              })
            : { issuer: '', checkpoints: [] };
          checkpoints = cp.checkpoints;
          anchor = cp.anchor ?? null;
          issuer = cp.issuer;
          jwks = JSON.parse(readFileSync(flags.jwks ?? `${flags.export}.jwks.json`, 'utf8')) as JSONWebKeySet;
        } else {
          const client = await ApiClient.from(flags);
          exported = readExport(
            Buffer.from(await (await client.stream('/api/v1/events/export?format=ndjson')).arrayBuffer()),
          );
          const published = await client.request<{
            checkpoints: CheckpointRecord[];
            anchor: CheckpointRecord | null;
          }>('GET', '/api/v1/audit/checkpoints?limit=10000');
          checkpoints = published.checkpoints;
          anchor = published.anchor;
          jwks = await client.request<JSONWebKeySet>('GET', '/.well-known/jwks.json');
          issuer = (await client.request<{ issuer: string }>('GET', '/.well-known/openid-configuration'))
            .issuer;
        }
        const result = await verifyExport(
          exported.rows,
          checkpoints,
          jwks,
          issuer,
          anchor,
          exported.mismatched,
        );
        if (flags.output === 'json') process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        if (!result.ok)
          throw new Error(
            `the audit log does not verify at sequence ${result.firstBad!.seq}: ${result.firstBad!.reason}`,
          );
        if (flags.output !== 'json') {
          process.stdout.write(
            `OK: ${result.checked} events (${result.firstSeq}–${result.lastSeq}) chain intact; ${result.checkpointsVerified} signed checkpoint(s) verified, up to ${result.coveredUpTo}.\n`,
          );
          for (const warning of result.warnings) process.stdout.write(`note: ${warning}\n`);
        }
      }),
  );
  return audit;
}
