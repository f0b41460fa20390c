// Static files for the pages: our own scripts and stylesheet (src/console/assets, copied next to
// the compiled module by the build) and the @simplewebauthn/browser bundle from node_modules.
// Only the files listed here are served: nothing under them is reachable by path tricks.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

interface Asset {
  body: Buffer;
  type: string;
}

const OWN = ['palisade.css', 'common.js', 'enroll.js', 'signin.js', 'account.js'];

export function loadAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const dir = fileURLToPath(new URL('./assets/', import.meta.url));
  for (const name of OWN) {
    assets.set(name, { body: readFileSync(join(dir, name)), type: contentType(name) });
  }
  const browserEntry = fileURLToPath(import.meta.resolve('@simplewebauthn/browser'));
  const bundle = join(dirname(browserEntry), '..', 'dist', 'bundle', 'index.umd.min.js');
  assets.set('webauthn.js', { body: readFileSync(bundle), type: contentType(bundle) });
  return assets;
}

function contentType(name: string): string {
  return name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
}
