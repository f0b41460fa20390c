// Regenerates the reference tables in src/scanning/versions/testdata/ that the version-scheme tests
// check against. Each verdict comes from the reference implementation of the scheme, never from our
// own code: dpkg via `dpkg --compare-versions`, PEP 440 via pip's vendored `packaging`, SemVer via the
// npm `semver` package. The tests only read the committed tables, so they need none of these tools.
//
// Run: npx tsx scripts/generate-version-tables.ts   (needs dpkg, python3 with pip, and node_modules)
//
// The apk tables are not generated: apk-tools cannot be installed here, so they are converted by hand
// from apk-tools' own test data (see the header of testdata/apk-compare.tsv).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import * as semver from 'semver';

const OUT_DIR = fileURLToPath(new URL('../src/scanning/versions/testdata/', import.meta.url));

type Sign = -1 | 0 | 1;
type Pair = readonly [string, string];

// ---------------------------------------------------------------------------------------------------
// Candidate versions. Families hold versions whose differences are subtle; every pair inside a family
// is asked, plus a seeded sample of pairs across families.

const DPKG_FAMILIES: readonly (readonly string[])[] = [
  [
    '2.36-9+deb12u4',
    '2.36-9+deb12u10',
    '2.36-9',
    '2.36-9~bpo11+1',
    '2.36',
    '2.36.1-1',
    '1:1.2.13.dfsg-1',
    '1.2.13.dfsg-1',
    '1:1.2.13.dfsg-1+b1',
    '1:1.2.13.dfsg-1ubuntu5',
    '3.0.11-1~deb12u2',
    '3.0.11-1',
    '3.0.13-1~deb12u1',
    '3.0.2-0ubuntu1.15',
    '3.0.2-0ubuntu1.9',
    '7.88.1-10+deb12u5',
    '7.88.1-10+deb12u12',
    '7.88.1-10',
    '7.81.0-1ubuntu1.16',
    '2.7.4-0ubuntu1.6',
    '2.7.4-0ubuntu1',
    '2.7.4-0ubuntu1.10',
    '1:9.18.28-0ubuntu0.22.04.1',
    '1:9.18.28-0ubuntu0.24.04.1',
    '1:9.18.18-0ubuntu0.22.04.2',
    '1:9.18.28-1~deb12u2',
    '5.2.15-2+b2',
    '5.2.15-2',
    '5.2.15-2ubuntu1',
    '252.22-1~deb12u1',
    '252.30-1~deb12u2',
    '1.21.1-1',
    '1.21.22',
    '6.1.76-1',
    '6.1.90-1',
    '2.2.0-1ubuntu0.1~esm1',
    '2.2.0-1ubuntu0.1',
    '1:2.39.2-1.1',
    '0.8.3+dfsg-1',
    '0.8.3-1',
    '0.8.3+dfsg1-1',
    '0.8.3~dfsg-1',
    '20230311',
    '20230311.1',
    '20240203~deb12u1',
    '1.0.0+git20230101.abcdef-1',
    '1.0.0+git20221201.deadbeef-2',
    '2:8.2.3995-1ubuntu2.17',
    '2:9.0.1378-2',
    '12.2.0-14',
    '12.2.0-14+deb12u1',
  ],
  [
    '1.0',
    '1.0~',
    '1.0~~',
    '1.0~~a',
    '1.0~a',
    '1.0~rc1',
    '1.0~rc2',
    '1.0~rc10',
    '1.0~beta1',
    '1.0~beta1~1',
    '1.0a',
    '1.0A',
    '1.0+',
    '1.0+a',
    '1.0+~',
    '1.0.',
    '1.0.0',
    '1.0-0',
    '1.0-1',
    '1.0-1~',
    '1.0-1.1',
    '1.0-1a',
    '1.0-~',
    '1.0-a',
    '1.0-A',
    '1.00',
    '01.0',
    '1.0b',
    '1.0z',
    '1.0Z',
    '1.0.a',
    '1.0+1',
    '1.0.1',
    '1a',
    '1',
    '1.0-0.1',
    '1.0-+',
  ],
  [
    '0:1.0',
    '1:1.0',
    '1:0.1',
    '2:0',
    '10:0.1',
    '1:1.0-1',
    '1:2:3',
    '1:2:3-4',
    '2147483647:1',
    '00001:1.0',
    '0:0',
  ],
  [
    '1.00000000000000000001',
    '1.1',
    '1.99999999999999999999999999',
    '1.100000000000000000000000000',
    '20240101123456789012345',
    '20240101123456789012346',
    '9999999999999999999999',
    '10000000000000000000000',
    '1.0-99999999999999999999',
    '1.0-100000000000000000000',
    '1.0-0000000000000000000001',
  ],
  ['1.0-2-3', '1.0-2-4', '1.0-2.1-3', '1-2-3-4', '1.0--1', '1:1.0-2-3'],
];

const DPKG_VALIDITY_EXTRA: readonly string[] = [
  'a1',
  '1_0',
  '1.0-1_2',
  '1:',
  '1:a',
  ':1',
  '1.0-',
  '1 0',
  '1.0\u00e4',
  '99999999999:1',
  '2147483648:1',
  '1.0-1:2',
  '1.0@',
  '1.0/2',
  '1.0,1',
  '~1',
  '+1',
  '.1',
  '1.0-1-',
  'a:1.0',
  '1.0-1!',
  '1:~1',
  'A1',
  '1.0:1',
];

const PEP440_FAMILIES: readonly (readonly string[])[] = [
  [
    '1.0',
    '1.0.0',
    '1.0.0.0',
    '1',
    '1.0.1',
    '1.0.10',
    '1.0.2',
    '1.1',
    '0.9.9',
    '1.0a1',
    '1.0a2',
    '1.0a10',
    '1.0b1',
    '1.0b2',
    '1.0rc1',
    '1.0rc2',
    '1.0c1',
    '1.0.post1',
    '1.0.post2',
    '1.0.post10',
    '1.0.dev0',
    '1.0.dev1',
    '1.0a1.dev1',
    '1.0a1.post1',
    '1.0a1.post1.dev1',
    '1.0.post1.dev1',
    '1.0.post1.dev0',
    '1.0rc1.dev2',
    '1.0b2.post345.dev456',
    '1.0b2.post345',
    '1.0b2-346',
    '1.0.0a1',
    '1.0.0rc1',
    '1.0.0.post1',
    '0.9',
    '1.1.dev1',
    '1.1a1',
  ],
  [
    '1.0+local',
    '1.0+local.1',
    '1.0+local.2',
    '1.0+1',
    '1.0+01',
    '1.0+2',
    '1.0+10',
    '1.0+abc.5',
    '1.0+5.abc',
    '1.0+abc',
    '1.0+abd',
    '1.0+ABC',
    '1.0+abc-5',
    '1.0+abc_5',
    '1.0+ubuntu1',
    '1.0+ubuntu1.1',
    '1.0',
    '1.0.post1',
    '1.0.post1+local',
    '1.0.dev1+local',
    '1.0a1+local',
    '1.0+a1',
    '1.0+1a',
    '1.0+1.a',
    '1.0+a.1',
  ],
  ['1!0.1', '1!1.0', '2!0.0.1', '0!1.0', '1.0', '1!1.0.dev1', '1!1.0+local', '01!1.0', '10!0.1', '2!1.0a1'],
  [
    '99999999999999999999999',
    '100000000000000000000000',
    '1.99999999999999999999',
    '1.100000000000000000000',
    '1.0+99999999999999999999',
    '1.0+100000000000000000000',
    '1.0.post99999999999999999999',
    '1.0.post100000000000000000000',
    '1.0a99999999999999999999',
    '1.0.dev99999999999999999999',
    '1.0.0.0.0.1',
    '0',
    '0.0.0',
    '0.dev0',
    '0a0',
    '0.post0',
  ],
  [
    '1.0-rc1',
    '1.0.0-rc1',
    '1.0-1',
    '1.0-r1',
    '1.0rev2',
    '1.0.rev2',
    'v1.0',
    'V1.0',
    '1.0alpha1',
    '1.0-alpha-1',
    '1.0beta2',
    '1.0.beta.2',
    '1.0preview1',
    '1.0pre1',
    '1.0-pre-1',
    '1.0_dev',
    '1.0-dev-1',
    '1.0.DEV2',
    '1.0a.',
    '1.0.post.',
    '1.0.post',
    '1.0-post',
    '1.0-post-1',
    '1.0.RC1',
    '1.0C',
    '2.0.0-beta.1',
    '1.0a_1',
    '1.0post_',
    '1.0rc1-1',
    '1.0a-post1',
    '1.0.post-dev',
    '1.00',
    '1.000001',
  ],
  [
    '4.36.1',
    '2.31.0',
    '2.3.0',
    '2.28.2',
    '2.10.0',
    '2024.1.15',
    '2024.01.15',
    '19.10b0',
    '3.0.0a0',
    '3.0.0b1',
    '3.0.0rc1',
    '3.0.0',
    '0.0.1',
    '0.1',
    '10.0',
    '23.0',
    '23.0.1',
    '1.26.18',
    '1.26.5',
    '42.0.4',
    '41.0.7',
    '2.6.1',
    '0.18.0.dev0',
  ],
];

const PEP440_VALIDITY_EXTRA: readonly string[] = [
  '1.0-',
  '1.0+',
  '1.0+a.',
  '1.0+.a',
  '1.0..1',
  '1.0.',
  '.1',
  '1.0a1b1',
  '1.0 +local',
  '1.0.post1-1',
  '1.0-rc',
  'abc',
  '1.0.x',
  '1.0_',
  '01.0',
  '1.0e1',
  '1,0',
  '1.0/1',
  '1!',
  '!1.0',
  '1!2!3',
  '1.0+local_',
  '1.0+loc@l',
  'vv1.0',
  '1.0 rc1',
  ' 1.0 ',
  '\t1.0\n',
  '1.0dev',
  '1.0post1dev',
  '1.0.dev1.post1',
  '1.0a1a1',
  '1.0.0-alpha.beta',
  '1.0-dev-',
  '1.0.devel',
  '1.0-1-1',
  '1.0--1',
  '1.0-_1',
  'v',
  '',
  '1.0+a+b',
  '1.0+ab-',
  '1.0\u00e9',
  '1.0rc1.post2.dev3+loc.al',
  '1.0.pre',
  '1.0-r',
];

const SEMVER_FAMILIES: readonly (readonly string[])[] = [
  [
    '1.0.0-alpha',
    '1.0.0-alpha.1',
    '1.0.0-alpha.beta',
    '1.0.0-beta',
    '1.0.0-beta.2',
    '1.0.0-beta.11',
    '1.0.0-rc.1',
    '1.0.0',
    '1.0.0-0',
    '1.0.0-1',
    '1.0.0-00a',
    '1.0.0--',
    '1.0.0-a-b',
    '1.0.0-A',
    '1.0.0-a',
    '1.0.0-Z',
    '1.0.0-z',
    '1.0.0-0.3.7',
    '1.0.0-x.7.z.92',
    '1.0.0-x-y-z.--',
    '1.0.0-alpha.0a',
    '1.0.0-alpha.a0',
    '1.0.0-alpha.10',
    '1.0.0-alpha.9',
    '1.0.0-alpha.1.1',
    '1.0.0-alpha.-',
    '1.0.0-9007199254740990',
    '1.0.0-9007199254740991',
    '1.0.0-rc.1.0',
    '1.0.0-RC.1',
    '1.0.1-alpha',
    '0.9.9',
  ],
  [
    '0.0.0',
    '0.0.1',
    '0.1.0',
    '1.9.0',
    '1.10.0',
    '1.11.0',
    '2.0.0',
    '2.1.0',
    '2.1.1',
    '2.1.1-0',
    '3.0.0',
    '4.17.20',
    '4.17.21',
    '4.17.21-beta',
    '10.0.0-canary.20230101',
    '10.0.0-canary.20230102',
    '10.0.0',
    '9.99.999',
    '9007199254740991.0.0',
    '9007199254740990.0.0',
    '1.9007199254740991.0',
  ],
  [
    '1.0.0+20130313144700',
    '1.0.0-beta+exp.sha.5114f85',
    '1.0.0+21AF26D3----117B344092BD',
    '1.0.0+001',
    '1.2.3-beta.1+build.5',
    '1.2.3+build.5',
    '1.2.3+build.6',
    '1.2.3',
    '1.2.3-beta.1',
    '1.0.0-beta',
  ],
  [
    'v1.0.0',
    'v2.0.0-rc.1',
    'v0.0.0-20230101120000-abcdef123456',
    'v0.0.0-20230102120000-123456abcdef',
    '0.0.0-20230101120000-abcdef123456',
    'v1.6.0',
    'v1.7.0-rc1',
    '1.7.0-rc1',
    '1.2.3-rc1',
    '1.2.3-rc10',
    '1.2.3-rc2',
    'v1.2.3+incompatible',
    '1.6.0',
  ],
];

/** Left out on purpose: npm accepts surrounding whitespace and rejects numbers above 2^53 - 1. */
const SEMVER_VALIDITY_EXTRA: readonly string[] = [
  '1',
  '1.0',
  '1.0.0.0',
  '01.0.0',
  '1.01.0',
  '1.0.01',
  '1.0.0-01',
  '1.0.0-',
  '1.0.0+',
  '1.0.0-a..b',
  '1.0.0+a..b',
  '1.0.0-\u03b1',
  '=1.0.0',
  'V1.0.0',
  'vv1.0.0',
  '1.0.0-a+b+c',
  '1.2.3-beta_1',
  'a.b.c',
  '1.2.3.4-rc',
  '-1.0.0',
  '1.-1.0',
  '1.0.0-rc.01',
  '1.0.0+01',
  '1.0.0-0a',
  '1.0.0-.a',
  '1.0.0-a.',
  '1.0.0+.a',
  '1.0',
  '',
  'v',
  '1.0.0 -rc1',
  '1.0.x',
  '*',
];

// ---------------------------------------------------------------------------------------------------
// Pair selection.

/** Small seeded PRNG (mulberry32) so regenerating gives the same sample. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function selectPairs(families: readonly (readonly string[])[], crossPairs: number, seed: number): Pair[] {
  const seen = new Set<string>();
  const pairs: Pair[] = [];
  const add = (a: string, b: string): void => {
    const key = a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`; // dedupe key only, not an ordering
    if (seen.has(key)) return;
    seen.add(key);
    pairs.push([a, b]);
  };
  for (const family of families) {
    for (let i = 0; i < family.length; i++) {
      add(family[i]!, family[i]!);
      for (let j = i + 1; j < family.length; j++) add(family[i]!, family[j]!);
    }
  }
  const all = [...new Set(families.flat())];
  const target = pairs.length + crossPairs;
  const next = rng(seed);
  // Bounded attempts: duplicates are skipped, so a small pool could otherwise loop for ever.
  for (let attempt = 0; attempt < crossPairs * 10 && pairs.length < target; attempt++) {
    add(all[Math.floor(next() * all.length)]!, all[Math.floor(next() * all.length)]!);
  }
  return pairs;
}

// ---------------------------------------------------------------------------------------------------
// References.

function dpkgRun(args: readonly string[]): { status: number; stderr: string } {
  const r = spawnSync('dpkg', ['--compare-versions', ...args], { encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stderr: r.stderr };
}

/** dpkg's verdict on a version: valid when dpkg parses it without an error or a warning. */
function dpkgValid(version: string): boolean {
  const r = dpkgRun([version, 'eq', version]);
  return r.status === 0 && r.stderr === '';
}

function dpkgCompare(a: string, b: string): Sign {
  if (dpkgRun([a, 'lt', b]).status === 0) return -1;
  return dpkgRun([a, 'eq', b]).status === 0 ? 0 : 1;
}

interface PythonAnswer {
  readonly valid: boolean[];
  readonly compare: Sign[];
}

const PYTHON_REFERENCE = `
import json, sys
from pip._vendor.packaging.version import Version, InvalidVersion
req = json.load(sys.stdin)
def valid(s):
    try:
        Version(s)
        return True
    except InvalidVersion:
        return False
def cmp(a, b):
    x, y = Version(a), Version(b)
    return -1 if x < y else (1 if x > y else 0)
json.dump({"valid": [valid(s) for s in req["valid"]], "compare": [cmp(a, b) for a, b in req["pairs"]]}, sys.stdout)
`;

function pep440Reference(valid: readonly string[], pairs: readonly Pair[]): PythonAnswer {
  const r = spawnSync('python3', ['-c', PYTHON_REFERENCE], {
    input: JSON.stringify({ valid, pairs }),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`python3 reference failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as PythonAnswer;
}

function semverValid(version: string): boolean {
  return semver.valid(version) !== null;
}

function semverCompare(a: string, b: string): Sign {
  return semver.compare(a, b);
}

// ---------------------------------------------------------------------------------------------------
// Output. Fields are written as they are unless they hold whitespace, a backslash or start with a
// double quote; those are written as JSON strings (the tests decode them the same way).

function field(value: string): string {
  return /[\s\\]|^"|^$/.test(value) ? JSON.stringify(value) : value;
}

function writeTable(file: string, header: readonly string[], rows: readonly (readonly string[])[]): void {
  const lines = [...header.map((h) => `# ${h}`), ...rows.map((r) => r.map(field).join('\t'))];
  writeFileSync(`${OUT_DIR}${file}`, `${lines.join('\n')}\n`);
  console.log(`${file}: ${rows.length} rows`);
}

function compareRows(pairs: readonly Pair[], signs: readonly Sign[]): string[][] {
  return pairs.map(([a, b], i) => [a, b, String(signs[i])]);
}

function validityRows(versions: readonly string[], verdicts: readonly boolean[]): string[][] {
  return versions.map((v, i) => [v, verdicts[i] ? '1' : '0']);
}

function generated(reference: string): string[] {
  return [
    `Generated by scripts/generate-version-tables.ts from ${reference}; do not edit by hand.`,
    'Fields are tab-separated; a field written as a JSON string (starting with ") is decoded as JSON.',
  ];
}

function dedupe(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function generateDpkg(): void {
  const banner = spawnSync('dpkg', ['--version'], { encoding: 'utf8' }).stdout;
  const reference = `\`dpkg --compare-versions\` (dpkg ${/version (\S+)/.exec(banner)?.[1] ?? 'unknown'})`;
  const pool = dedupe(DPKG_FAMILIES.flat());
  const invalid = pool.filter((v) => !dpkgValid(v));
  if (invalid.length > 0) throw new Error(`dpkg rejects candidates: ${invalid.join(', ')}`);
  const pairs = selectPairs(DPKG_FAMILIES, 1200, 1);
  writeTable(
    'dpkg-compare.tsv',
    [...generated(reference), 'Columns: a, b, sign of compare(a, b).'],
    compareRows(
      pairs,
      pairs.map(([a, b]) => dpkgCompare(a, b)),
    ),
  );
  const validity = dedupe([...pool, ...DPKG_VALIDITY_EXTRA]);
  writeTable(
    'dpkg-valid.tsv',
    [
      ...generated(`${reference}; valid = parsed without error or warning`),
      'Columns: version, 1 if valid else 0.',
    ],
    validityRows(
      validity,
      validity.map((v) => dpkgValid(v)),
    ),
  );
}

function generatePep440(): void {
  const version = spawnSync(
    'python3',
    ['-c', 'import pip._vendor.packaging as p, sys; print(p.__version__, sys.version.split()[0])'],
    { encoding: 'utf8' },
  ).stdout.trim();
  const reference = `pip's vendored packaging.version.Version (packaging/python ${version})`;
  const pool = dedupe(PEP440_FAMILIES.flat());
  const pairs = selectPairs(PEP440_FAMILIES, 1200, 2);
  const validity = dedupe([...pool, ...PEP440_VALIDITY_EXTRA]);
  const answer = pep440Reference(validity, pairs);
  const invalid = pool.filter((_, i) => !answer.valid[i]);
  if (invalid.length > 0) throw new Error(`packaging rejects candidates: ${invalid.join(', ')}`);
  writeTable(
    'pep440-compare.tsv',
    [...generated(reference), 'Columns: a, b, sign of compare(a, b).'],
    compareRows(pairs, answer.compare),
  );
  writeTable(
    'pep440-valid.tsv',
    [...generated(reference), 'Columns: version, 1 if valid else 0.'],
    validityRows(validity, answer.valid),
  );
}

function generateSemver(): void {
  const { version } = createRequire(import.meta.url)('semver/package.json') as { version: string };
  const reference = `the npm semver package ${version}, strict mode (compare, valid)`;
  const pool = dedupe(SEMVER_FAMILIES.flat());
  const invalid = pool.filter((v) => !semverValid(v));
  if (invalid.length > 0) throw new Error(`semver rejects candidates: ${invalid.join(', ')}`);
  const pairs = selectPairs(SEMVER_FAMILIES, 1200, 3);
  writeTable(
    'semver-compare.tsv',
    [...generated(reference), 'Columns: a, b, sign of compare(a, b).'],
    compareRows(
      pairs,
      pairs.map(([a, b]) => semverCompare(a, b)),
    ),
  );
  const validity = dedupe([...pool, ...SEMVER_VALIDITY_EXTRA]);
  writeTable(
    'semver-valid.tsv',
    [...generated(reference), 'Columns: version, 1 if valid else 0.'],
    validityRows(validity, validity.map(semverValid)),
  );
}

generateDpkg();
generatePep440();
generateSemver();
