// `palisade scan IMAGE` and `palisade sbom IMAGE`: what the server found in a pushed image. scan
// prints the findings (table or JSON) and, with --fail-on, exits 1 when any is at or above that
// severity — the CI gate. Both wait (--wait) for an analysis that is still queued or running, so
// `skopeo copy … && palisade scan …` works right after a push.
import { Command, Option } from 'commander';
import { parseDuration } from '../lib/duration.js';
import { meetsThreshold, parseRating, type Rating } from '../scanning/osv/severity.js';
import type { ImageReport } from '../scanning/service.js';
import type { IndexReport } from '../scanning/routes.js';
import { api, ApiClient, print, type ApiFlags } from './api-client.js';

interface ScanFlags extends ApiFlags {
  failOn?: string;
  wait: string;
}

interface SbomFlags extends ApiFlags {
  format: 'spdx' | 'cyclonedx';
  wait: string;
}

export interface ImageName {
  repository: string;
  reference: string;
}

/**
 * Reads acme/app:1.0, acme/app@sha256:…, or the same behind a registry host
 * (127.0.0.1:5000/acme/app:1.0); the host is dropped — --server says which server to ask.
 */
export function parseImageName(image: string): ImageName {
  let rest = image.trim();
  const first = rest.split('/')[0] ?? '';
  if (rest.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    rest = rest.slice(first.length + 1);
  }
  const at = rest.indexOf('@');
  if (at >= 0) return { repository: rest.slice(0, at), reference: rest.slice(at + 1) };
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/'))
    return { repository: rest.slice(0, colon), reference: rest.slice(colon + 1) };
  if (rest === '') throw new Error('give an image, e.g. acme/app:1.0 or acme/app@sha256:…');
  return { repository: rest, reference: 'latest' };
}

function waitMs(text: string): number {
  const seconds = parseDuration(text);
  if (seconds === undefined) throw new Error(`--wait ${text} is not a duration; use e.g. 0, 30s or 5m`);
  return seconds * 1000;
}

/** Still being worked on: analysis queued or running, or analysed but not yet matched. */
const pending = (report: ImageReport) =>
  report.analysis.status === 'queued' ||
  report.analysis.status === 'running' ||
  (report.analysis.status !== 'none' && report.analysis.matchedAt === undefined);

async function fetchReport(
  client: ApiClient,
  image: ImageName,
  wait: number,
): Promise<ImageReport | IndexReport> {
  const path = `/api/v1/repositories/${image.repository}/manifests/${encodeURIComponent(image.reference)}/vulnerabilities`;
  const deadline = Date.now() + wait;
  for (;;) {
    const report = await client.request<ImageReport | IndexReport>('GET', path);
    const reports = 'manifests' in report ? report.manifests : [report];
    if (!reports.some(pending) || Date.now() >= deadline) return report;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

export function scanCommand(): Command {
  return api(
    new Command('scan')
      .description(
        'show the known vulnerabilities of a pushed image (exit 1 with --fail-on when one is at or above it)',
      )
      .argument('<image>', 'e.g. acme/app:1.0, acme/app@sha256:…, or 127.0.0.1:5000/acme/app:1.0'),
  )
    .addOption(
      new Option('--fail-on <severity>', 'exit 1 if any finding is at or above this severity').choices([
        'critical',
        'high',
        'medium',
        'low',
      ]),
    )
    .option('--wait <duration>', 'wait this long for an analysis still queued or running', '2m')
    .addHelpText(
      'after',
      '\nExamples:\n  palisade scan acme/app:1.0\n  palisade scan acme/app@sha256:… --fail-on high --output json\n',
    )
    .action(async (imageText: string, flags: ScanFlags) => {
      const image = parseImageName(imageText);
      const client = await ApiClient.from(flags);
      const report = await fetchReport(client, image, waitMs(flags.wait));
      const reports = 'manifests' in report ? report.manifests : [report];
      if (flags.output === 'json') print('json', report);
      else for (const one of reports) printReport(one);
      if (flags.failOn) {
        const threshold = parseRating(flags.failOn);
        const failing = reports.flatMap((r) =>
          r.findings.filter((f) => meetsThreshold(f.severity as Rating, threshold)),
        );
        const unanalysed = reports.filter(
          (r) => r.analysis.status !== 'done' || r.analysis.matchedAt === undefined,
        );
        if (failing.length > 0) {
          throw new Error(`${failing.length} finding(s) at or above ${flags.failOn} severity`);
        }
        if (unanalysed.length > 0) {
          throw new Error(
            `${unanalysed.length} image(s) not analysed and matched yet (${unanalysed.map((r) => (r.analysis.status === 'done' ? 'matching' : r.analysis.status)).join(', ')}); cannot vouch for them — try a longer --wait`,
          );
        }
      }
    });
}

function printReport(report: ImageReport & { platform?: unknown }): void {
  const { analysis, summary } = report;
  const platform = report.platform as { os?: string; architecture?: string; variant?: string } | undefined;
  const distro = analysis.distro
    ? ` · ${analysis.distro.prettyName ?? `${analysis.distro.id} ${analysis.distro.versionId ?? ''}`}`
    : '';
  const where = platform
    ? ` (${[platform.os, platform.architecture, platform.variant].filter(Boolean).join('/')})`
    : '';
  process.stdout.write(`${report.repository}@${report.digest}${where}${distro}\n`);
  if (analysis.status !== 'done') {
    const why = analysis.reason ? `: ${analysis.reason} — ${analysis.message ?? ''}` : '';
    process.stdout.write(`analysis ${analysis.status}${why}\n`);
  } else {
    process.stdout.write(`${analysis.packages} packages, analysed ${analysis.analysedAt ?? '?'}\n`);
  }
  if (report.noKnownVulnerabilities) {
    process.stdout.write('no known vulnerabilities\n\n');
    return;
  }
  print(
    'table',
    report,
    report.findings.map((f) => ({
      severity: f.severity,
      id: f.id,
      package: f.package.name,
      installed: f.package.version,
      fixed: f.fixedVersion ?? '',
      summary: (f.summary ?? '').slice(0, 60),
    })),
  );
  const counts = ['critical', 'high', 'medium', 'low', 'unknown']
    .map((s) => `${summary[s as keyof typeof summary]} ${s}`)
    .join(', ');
  process.stdout.write(`${summary.total} findings: ${counts}\n\n`);
}

export function sbomCommand(): Command {
  return api(
    new Command('sbom')
      .description('print the SBOM Palisade generated for a pushed image')
      .argument(
        '<image>',
        'e.g. acme/app:1.0 or acme/app@sha256:… (one platform’s manifest for multi-platform images)',
      ),
  )
    .addOption(new Option('--format <format>', 'SBOM format').choices(['spdx', 'cyclonedx']).default('spdx'))
    .option('--wait <duration>', 'wait this long for an analysis still queued or running', '2m')
    .action(async (imageText: string, flags: SbomFlags) => {
      const image = parseImageName(imageText);
      const client = await ApiClient.from(flags);
      const report = await fetchReport(client, image, waitMs(flags.wait));
      if ('manifests' in report) {
        const digests = report.manifests.map((m) => `  ${image.repository}@${m.digest}`).join('\n');
        throw new Error(`${imageText} is a multi-platform index; ask for one platform:\n${digests}`);
      }
      const response = await client.stream(
        `/api/v1/repositories/${image.repository}/manifests/${encodeURIComponent(report.digest)}/sbom?format=${flags.format}`,
      );
      process.stdout.write(`${await response.text()}\n`);
    });
}
