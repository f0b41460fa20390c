// Configuration layering (flags > env > file > defaults) and the one-line errors that stop start-up.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/errors.js';
import { loadConfig } from './load.js';

let counter = 0;
const dir = mkdtempSync(join(tmpdir(), 'palisade-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('loadConfig', () => {
  it('uses the embedded defaults', () => {
    const config = loadConfig({ env: {} });
    expect(config).toMatchObject({ host: '127.0.0.1', port: 5000, dataDir: './palisade-data', dev: false });
    expect(config.databaseUrl).toBeUndefined();
    expect(config.registry).toMatchObject({ deleteEnabled: true, maxManifestBytes: 4 * 1024 * 1024 });
    expect(config.registry.gc).toMatchObject({
      enabled: true,
      uploadExpirySeconds: 86400,
      deleteUntagged: true,
    });
  });

  it('layers flags over environment over file over defaults', () => {
    const yaml = file(
      'layers.yaml',
      'host: 10.0.0.1\nport: 6000\ndataDir: /from/file\nregistry:\n  gc:\n    intervalSeconds: 120\n',
    );
    const env = {
      PALISADE_PORT: '7000',
      PALISADE_DATA_DIR: '/from/env',
      PALISADE_REGISTRY__GC__GRACE_PERIOD_SECONDS: '60',
    };
    const config = loadConfig({ file: yaml, env, flags: { dataDir: '/from/flag' } });
    expect(config.host).toBe('10.0.0.1'); // file only
    expect(config.port).toBe(7000); // env beats file
    expect(config.dataDir).toBe('/from/flag'); // flag beats env
    expect(config.registry.gc.intervalSeconds).toBe(120); // nested from file
    expect(config.registry.gc.gracePeriodSeconds).toBe(60); // nested from env
    expect(config.registry.gc.deleteUntagged).toBe(true); // default kept beside overrides
  });

  it('takes the direct I/O mode from the environment and YAML, off by default', () => {
    expect(loadConfig({ env: {} }).registry.directIo).toBe('off');
    expect(loadConfig({ env: { PALISADE_REGISTRY__DIRECT_IO: 'on' } }).registry.directIo).toBe('on');
    // Unquoted: YAML 1.2 reads `on` and `off` as strings, not booleans.
    const yaml = file('direct-io.yaml', 'registry:\n  directIo: on\n');
    expect(loadConfig({ file: yaml, env: {} }).registry.directIo).toBe('on');
  });

  it('reads the file named by PALISADE_CONFIG', () => {
    const yaml = file('env-named.yaml', 'port: 6100\n');
    expect(loadConfig({ env: { PALISADE_CONFIG: yaml } }).port).toBe(6100);
  });

  it.each([
    [{ PALISADE_PORT: 'notaport' }, undefined, /^invalid configuration: port: /],
    [{ PALISADE_PORT: '70000' }, undefined, /^invalid configuration: port: /],
    [{ PALISADE_LOG_LEVEL: 'loud' }, undefined, /^invalid configuration: logLevel: /],
    [{ PALISADE_NOPE: '1' }, undefined, /^invalid configuration: unknown setting nope$/],
    [
      { PALISADE_REGISTRY__DIRECT_IO: 'sometimes' },
      undefined,
      /^invalid configuration: registry\.directIo: /,
    ],
    [
      {},
      'registry:\n  gc:\n    intervalSeconds: "x"\n',
      /^invalid configuration: registry\.gc\.intervalSeconds: /,
    ],
    [{}, 'registry:\n  colour: blue\n', /^invalid configuration: unknown setting registry\.colour$/],
    [{}, 'port: [1, 2\n', /^invalid configuration: .* is not valid YAML/],
    [{}, '- a list\n', /^invalid configuration: .* must hold a mapping/],
  ])('stops with one line naming the problem (%j, %j)', (env, yaml, message) => {
    const sources = { env, ...(yaml ? { file: file(`bad-${String(++counter)}.yaml`, yaml) } : {}) };
    let error: unknown;
    try {
      loadConfig(sources);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as Error).message;
    expect(text).toMatch(message);
    expect(text).not.toContain('\n');
  });

  it('names a missing config file', () => {
    expect(() => loadConfig({ env: {}, file: join(dir, 'missing.yaml') })).toThrow(/cannot read config file/);
  });

  it('ignores client-side and test variables', () => {
    const config = loadConfig({
      env: { PALISADE_SERVER: 'http://x', PALISADE_TOKEN: 't', PALISADE_TEST_DATABASE_URL: 'postgres://x' },
    });
    expect(config.port).toBe(5000);
  });
});
