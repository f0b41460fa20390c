// Loads configuration from four layers — defaults < YAML file < PALISADE_* environment < flags —
// and validates the merged result. An invalid setting stops start-up with one line naming it.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../lib/errors.js';
import { configSchema, type Config } from './schema.js';

type Tree = Record<string, unknown>;

export interface ConfigSources {
  /** Path of a YAML file, if any. */
  file?: string;
  /** Environment (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, already in the schema's shape. */
  flags?: Tree;
}

export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? process.env;
  const file = sources.file ?? env.PALISADE_CONFIG;
  const merged: Tree = {};
  if (file) deepMerge(merged, readYaml(file));
  deepMerge(merged, fromEnv(env));
  deepMerge(merged, sources.flags ?? {});
  const result = configSchema.safeParse(merged);
  if (!result.success) throw new ConfigError(`invalid configuration: ${describe(result.error)}`);
  return result.data;
}

function readYaml(file: string): Tree {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`invalid configuration: cannot read config file ${file}`);
  }
  let value: unknown;
  try {
    value = parseYaml(text, { maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError(
      `invalid configuration: ${file} is not valid YAML (${error instanceof Error ? error.message.split('\n')[0] : 'parse error'})`,
    );
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(`invalid configuration: ${file} must hold a mapping of settings`);
  }
  return value as Tree;
}

/** PALISADE_REGISTRY__GC__INTERVAL_SECONDS → registry.gc.intervalSeconds. */
function fromEnv(env: NodeJS.ProcessEnv): Tree {
  const tree: Tree = {};
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith('PALISADE_') || raw === undefined) continue;
    if (key === 'PALISADE_CONFIG' || key.startsWith('PALISADE_TEST_')) continue;
    if (['PALISADE_SERVER', 'PALISADE_TOKEN'].includes(key)) continue; // client-side settings
    const path = key
      .slice('PALISADE_'.length)
      .split('__')
      .map((part) => part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()));
    let node = tree;
    for (const part of path.slice(0, -1)) {
      if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
      node = node[part] as Tree;
    }
    node[path[path.length - 1]!] = coerce(raw);
  }
  return tree;
}

function coerce(raw: string): unknown {
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  if (/^-?\d+(?:\.\d+)?$/.test(raw) && raw.length < 16) return Number(raw);
  return raw;
}

function deepMerge(target: Tree, source: Tree): void {
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue;
    const existing = target[key];
    if (isTree(value) && isTree(existing)) deepMerge(existing, value);
    else target[key] = isTree(value) ? structuredClone(value) : value;
  }
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'unknown problem';
  if (issue.code === 'unrecognized_keys') {
    const prefix = issue.path.length > 0 ? `${issue.path.join('.')}.` : '';
    return `unknown setting ${issue.keys.map((k) => prefix + k).join(', ')}`;
  }
  return `${issue.path.join('.') || '(root)'}: ${issue.message}`;
}
