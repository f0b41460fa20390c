// Server-rendered HTML that is safe by construction: every interpolated value is escaped unless
// it is itself an Html fragment built by this module. No inline script or style is ever
// emitted, so pages work under a CSP with script-src 'self' and no 'unsafe-inline'.

export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

type Value = string | number | Html | undefined | null | false | Value[];

function render(value: Value): string {
  if (value === undefined || value === null || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!;
  });
  return new Html(out);
}

export interface PageOptions {
  title: string;
  body: Html;
  /** Scripts under /assets/ to load (deferred), in order. */
  scripts?: string[];
  /** The session's CSRF token, exposed to scripts through a meta tag. */
  csrf?: string;
}

export function page(options: PageOptions): string {
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="same-origin" />
        ${options.csrf ? html`<meta name="csrf-token" content="${options.csrf}" />` : ''}
        <title>${options.title} · Palisade</title>
        <link rel="stylesheet" href="/assets/palisade.css" />
        ${(options.scripts ?? []).map((s) => html`<script defer src="/assets/${s}"></script>`)}
      </head>
      <body>
        <header><a href="/account" class="brand">Palisade</a></header>
        <main>${options.body}</main>
      </body>
    </html> `.text;
}

/** The policy every HTML page is served with (the issue's strict CSP plus the usual headers). */
export const PAGE_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; " +
    "require-trusted-types-for 'script'; trusted-types 'none'",
  'Cache-Control': 'no-store',
  // same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on our own form
  // posts, and the Origin check is what keeps other sites from posting them.
  'Referrer-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=()',
  'Content-Type': 'text/html; charset=utf-8',
};
