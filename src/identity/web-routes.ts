// The pages people use (enroll, sign in, their passkeys) and the JSON endpoints their scripts
// call. Every state-changing request must come from our own origin (Origin header) and, once
// signed in, carry the session's CSRF token; unauthenticated endpoints are rate limited per
// client address. Pages are served under the strict CSP of console/html.ts.
import { parse as parseCookie, serialize as serializeCookie } from 'cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { setPrincipal } from '../audit/context.js';
import { parseInput } from '../lib/validate.js';
import { loadAssets } from '../console/assets.js';
import { html, page, PAGE_HEADERS } from '../console/html.js';
import { PeopleError } from './people-errors.js';
import type { OAuthService } from './oauth.js';
import type { PasskeyService } from './passkeys.js';
import type { Session, SessionService } from './sessions.js';
import type { SsoService } from './sso.js';
import type { IdentityStore } from './store.js';

export interface WebDeps {
  sso: SsoService;
  passkeys: PasskeyService;
  oauth: OAuthService;
  sessions: SessionService;
  store: IdentityStore;
  origin: () => string;
  /** Requests per minute per client address on unauthenticated endpoints. */
  rateLimitPerMinute: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    webSession?: { id: string; session: Session };
  }
}

const MAX_JSON_BYTES = 64 * 1024;
const displayName = z.string().trim().min(1, 'enter a name').max(100, 'at most 100 characters');
// WebAuthn responses are validated in depth by @simplewebauthn; here only their outer shape.
const credentialResponse = z
  .object({ id: z.string().max(1400), rawId: z.string().max(1400), type: z.literal('public-key') })
  .passthrough();
const ceremonyId = z.string().min(20).max(100);

export function mountWeb(app: FastifyInstance, deps: WebDeps): void {
  const assets = loadAssets();

  app.get('/assets/:name', { config: { capability: 'public' } }, async (request, reply) => {
    const asset = assets.get((request.params as { name: string }).name);
    if (!asset) throw new PeopleError('PALISADE_NOT_FOUND', 'no such asset');
    return reply
      .header('Content-Type', asset.type)
      .header('Cache-Control', 'public, max-age=300')
      .send(asset.body);
  });

  void app.register((web, _options, registered) => {
    web.removeContentTypeParser('application/json');
    web.addContentTypeParser(
      'application/json',
      { parseAs: 'string', bodyLimit: MAX_JSON_BYTES },
      (_request, body, done) => {
        try {
          done(null, JSON.parse(body as string));
        } catch {
          done(new PeopleError('PALISADE_BAD_REQUEST', 'the request body is not valid JSON'), undefined);
        }
      },
    );
    web.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: MAX_JSON_BYTES },
      (_request, body, done) => done(null, Object.fromEntries(new URLSearchParams(body as string))),
    );

    const limited = { rateLimit: { max: deps.rateLimitPerMinute } };
    const sessionOf = async (request: FastifyRequest) => {
      const cookies = parseCookie(request.headers.cookie ?? '');
      const id = cookies[deps.sessions.cookieName];
      const session = await deps.sessions.resolve(id);
      if (id && session) {
        request.webSession = { id, session };
        setPrincipal({
          kind: 'user',
          subject: `user:${session.userId}`,
          admin: false,
          scopes: new Set(),
          authentication: session.authentication,
        });
      }
      return request.webSession;
    };
    /** State changes must come from our own pages: right Origin, and with a session, its CSRF token. */
    const checkOrigin = (request: FastifyRequest) => {
      const origin = request.headers.origin;
      if (origin !== deps.origin()) {
        throw new PeopleError(
          'PALISADE_CSRF',
          `this request did not come from a Palisade page (Origin ${origin === undefined ? 'missing' : JSON.stringify(origin.slice(0, 200))}, expected ${deps.origin()}); reload the page and try again`,
        );
      }
    };
    const requireSession = async (request: FastifyRequest, reply: FastifyReply, mutation: boolean) => {
      const found = await sessionOf(request);
      if (!found) {
        if (!mutation) {
          await reply.redirect(`/signin?return_to=${encodeURIComponent(request.url)}`, 303);
          return undefined;
        }
        throw new PeopleError('PALISADE_SESSION_INVALID', 'your session has ended; sign in again');
      }
      if (mutation) {
        checkOrigin(request);
        const body = request.body as Record<string, unknown> | undefined;
        const presented =
          request.headers['x-csrf-token'] ?? (typeof body?.csrf === 'string' ? body.csrf : undefined);
        if (!deps.sessions.checkCsrf(found.id, typeof presented === 'string' ? presented : undefined)) {
          throw new PeopleError(
            'PALISADE_CSRF',
            'this form has expired (CSRF token missing or wrong); reload the page and try again',
          );
        }
      }
      return found;
    };
    const startSession = async (
      reply: FastifyReply,
      userId: string,
      authentication: Parameters<SessionService['create']>[1],
    ) => {
      const id = await deps.sessions.create(userId, authentication);
      reply.header(
        'Set-Cookie',
        serializeCookie(
          deps.sessions.cookieName,
          id,
          deps.sessions.cookieOptions(Math.floor(deps.sessions.settings.absoluteMs / 1000)),
        ),
      );
    };
    const sendPage = (reply: FastifyReply, status: number, body: string) =>
      reply.code(status).headers(PAGE_HEADERS).send(body);

    web.get('/', { config: { capability: 'public' } }, (_request, reply) => reply.redirect('/account', 303));

    web.get('/signin', { config: { capability: 'public', ...limited } }, async (request, reply) => {
      const returnTo = safeReturnTo((request.query as Record<string, unknown>).return_to);
      const providers = await deps.sso.providers();
      const sso = providers.map(
        (p) =>
          html`<p>
            <a
              class="button"
              href="/sso/${encodeURIComponent(p.id)}/start?return_to=${encodeURIComponent(returnTo)}"
              >Sign in with ${p.display_name}</a
            >
          </p>`,
      );
      const body = html`<h1>Sign in</h1>
        <p>
          Palisade has no passwords. Sign in with a passkey on this device or a security key, or with your
          company account.
        </p>
        <p>
          <button type="button" id="passkey-signin" data-return-to="${returnTo}">
            Sign in with a passkey
          </button>
        </p>
        ${sso}
        <p id="message" class="error" role="alert"></p>`;
      return sendPage(
        reply,
        200,
        page({ title: 'Sign in', body, scripts: ['common.js', 'webauthn.js', 'signin.js'] }),
      );
    });

    web.get('/enroll', { config: { capability: 'public', ...limited } }, async (_request, reply) => {
      const body = html`<h1>Create your passkey</h1>
        <p>
          This one-time link lets you register a passkey for your Palisade account. It expires 15 minutes
          after it was made.
        </p>
        <form id="enroll-form">
          <label
            >Your name
            <input id="display-name" name="displayName" required maxlength="100" autocomplete="name"
          /></label>
          <button type="submit">Create passkey</button>
        </form>
        <p id="message" class="error" role="alert"></p>`;
      return sendPage(
        reply,
        200,
        page({ title: 'Enroll', body, scripts: ['common.js', 'webauthn.js', 'enroll.js'] }),
      );
    });

    web.get('/account', { config: { capability: 'session' } }, async (request, reply) => {
      const found = await requireSession(request, reply, false);
      if (!found) return reply;
      const user = await deps.store.findUser(deps.store.db, found.session.userId);
      const passkeys = await deps.passkeys.list(found.session.userId);
      const csrf = deps.sessions.csrfToken(found.id);
      const body = html`<h1>${user?.display_name ?? 'Your account'}</h1>
        <p>
          Signed in with
          ${found.session.authentication.amr?.join(', ') ?? 'unknown method'}${user?.is_admin ? ' · administrator' : ''}.
        </p>
        <h2>Your passkeys</h2>
        <table>
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Added</th>
              <th>Last used</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
            ${passkeys.map(
              (p) =>
                html`<tr>
                  <td>${p.name}</td>
                  <td>
                    ${p.deviceType === 'singleDevice' ? 'device-bound' : 'synced'}${p.backedUp ? ' (backed up)' : ''}
                  </td>
                  <td>${new Date(p.createdAt).toISOString().slice(0, 10)}</td>
                  <td>
                    ${p.lastUsedAt ? new Date(p.lastUsedAt).toISOString().slice(0, 16).replace('T', ' ') : 'never'}
                  </td>
                  <td>
                    <form class="inline" method="post" action="/auth/passkeys/delete">
                      <input type="hidden" name="csrf" value="${csrf}" /><input
                        type="hidden"
                        name="id"
                        value="${p.id}"
                      /><button type="submit">Remove</button>
                    </form>
                  </td>
                </tr>`,
            )}
          </tbody>
        </table>
        <form id="add-passkey">
          <label
            >Name for a new passkey <input id="passkey-name" maxlength="100" placeholder="e.g. work laptop"
          /></label>
          <button type="submit">Add a passkey</button>
        </form>
        <p id="message" class="error" role="alert"></p>
        <h2>Sessions</h2>
        <form class="inline" method="post" action="/auth/signout">
          <input type="hidden" name="csrf" value="${csrf}" /><button type="submit">Sign out</button>
        </form>
        <form class="inline" method="post" action="/auth/signout-everywhere">
          <input type="hidden" name="csrf" value="${csrf}" /><button type="submit">
            Sign out everywhere
          </button>
        </form>`;
      return sendPage(
        reply,
        200,
        page({ title: 'Your account', body, csrf, scripts: ['common.js', 'webauthn.js', 'account.js'] }),
      );
    });

    web.post('/auth/enroll/options', { config: { capability: 'public', ...limited } }, async (request) => {
      checkOrigin(request);
      const body = parseInput(z.object({ token: z.string().min(20).max(100), displayName }), request.body);
      return deps.passkeys.enrollmentOptions(body.token, body.displayName);
    });

    web.post(
      '/auth/enroll/verify',
      { config: { capability: 'public', ...limited } },
      async (request, reply) => {
        checkOrigin(request);
        const body = parseInput(
          z.object({ ceremony: ceremonyId, response: credentialResponse, displayName }),
          request.body,
        );
        const signedIn = await deps.passkeys.finishEnrollment(
          body.ceremony,
          body.response as never,
          body.displayName,
        );
        await startSession(reply, signedIn.userId, signedIn.authentication);
        return { redirect: '/account' };
      },
    );

    web.post('/auth/passkey/options', { config: { capability: 'public', ...limited } }, async (request) => {
      checkOrigin(request);
      return deps.passkeys.authenticationOptions();
    });

    web.post(
      '/auth/passkey/verify',
      { config: { capability: 'public', ...limited } },
      async (request, reply) => {
        checkOrigin(request);
        const body = parseInput(
          z.object({
            ceremony: ceremonyId,
            response: credentialResponse,
            returnTo: z.string().max(2048).optional(),
          }),
          request.body,
        );
        const signedIn = await deps.passkeys.finishAuthentication(body.ceremony, body.response as never);
        await startSession(reply, signedIn.userId, signedIn.authentication);
        return { redirect: safeReturnTo(body.returnTo) };
      },
    );

    web.post('/auth/passkeys/options', { config: { capability: 'session' } }, async (request, reply) => {
      const found = (await requireSession(request, reply, true))!;
      return deps.passkeys.registrationOptions(found.session.userId);
    });

    web.post('/auth/passkeys', { config: { capability: 'session' } }, async (request, reply) => {
      const found = (await requireSession(request, reply, true))!;
      const body = parseInput(
        z.object({ ceremony: ceremonyId, response: credentialResponse, name: displayName }),
        request.body,
      );
      await deps.passkeys.finishRegistration(
        found.session.userId,
        body.ceremony,
        body.response as never,
        body.name,
      );
      return reply.code(201).send({ status: 'added' });
    });

    web.post('/auth/passkeys/delete', { config: { capability: 'session' } }, async (request, reply) => {
      const found = (await requireSession(request, reply, true))!;
      const body = parseInput(z.object({ id: z.string().min(1).max(1400) }).passthrough(), request.body);
      await deps.passkeys.remove(found.session.userId, body.id);
      return reply.redirect('/account', 303);
    });

    web.post('/auth/signout', { config: { capability: 'session' } }, async (request, reply) => {
      const found = (await requireSession(request, reply, true))!;
      await deps.sessions.revoke(found.id, found.session.userId);
      return reply
        .header('Set-Cookie', serializeCookie(deps.sessions.cookieName, '', deps.sessions.cookieOptions(0)))
        .redirect('/signin', 303);
    });

    web.get('/device', { config: { capability: 'session' } }, async (request, reply) => {
      const found = await requireSession(request, reply, false);
      if (!found) return reply;
      const query = (request.query as Record<string, unknown>).user_code;
      const code = typeof query === 'string' ? query.slice(0, 20) : '';
      const pending = code ? await deps.oauth.pendingDevice(code) : undefined;
      const csrf = deps.sessions.csrfToken(found.id);
      const body = pending
        ? html`<h1>Approve a sign-in</h1>
            <p class="notice">
              The command-line client <strong>${pending.clientId}</strong> asks to act as you with access to:
              <strong>${pending.scope}</strong>. Only approve if you started
              <code>palisade auth login</code> yourself and it shows the code
              <code class="user-code">${code.toUpperCase()}</code>.
            </p>
            <form method="post" action="/device">
              <input type="hidden" name="csrf" value="${csrf}" /><input
                type="hidden"
                name="user_code"
                value="${code}"
              />
              <button type="submit" name="decision" value="approve">Approve</button>
              <button type="submit" name="decision" value="deny">Deny</button>
            </form>`
        : html`<h1>Sign in a device</h1>
            ${code ? html`<p class="error" role="alert">That code is unknown, already used or expired. Check it, or run <code>palisade auth login</code> again.</p>` : ''}
            <form method="get" action="/device">
              <label
                >Code shown by your terminal
                <input
                  name="user_code"
                  required
                  maxlength="20"
                  autocomplete="off"
                  autocapitalize="characters"
                  value="${code}"
              /></label>
              <button type="submit">Continue</button>
            </form>`;
      return sendPage(reply, 200, page({ title: 'Device sign-in', body, csrf }));
    });

    web.post('/device', { config: { capability: 'session', ...limited } }, async (request, reply) => {
      const found = (await requireSession(request, reply, true))!;
      const body = parseInput(
        z
          .object({ user_code: z.string().min(1).max(20), decision: z.enum(['approve', 'deny']) })
          .passthrough(),
        request.body,
      );
      const approve = body.decision === 'approve';
      const decided = await deps.oauth.decideDevice(
        body.user_code,
        found.session.userId,
        found.session.authentication,
        approve,
      );
      const message = !decided
        ? html`<h1>Nothing to approve</h1>
            <p class="error" role="alert">
              That code is unknown, already used or expired. Run <code>palisade auth login</code> again.
            </p>`
        : approve
          ? html`<h1>Device signed in</h1>
              <p>You can close this page and return to your terminal.</p>`
          : html`<h1>Sign-in denied</h1>
              <p>The device gets no access. If you did not start this, nothing else needs doing.</p>`;
      return sendPage(reply, decided ? 200 : 400, page({ title: 'Device sign-in', body: message }));
    });

    web.post('/auth/signout-everywhere', { config: { capability: 'session' } }, async (request, reply) => {
      const found = (await requireSession(request, reply, true))!;
      await deps.sessions.revokeAll(found.session.userId);
      await deps.oauth.revokeAllFor(found.session.userId);
      return reply
        .header('Set-Cookie', serializeCookie(deps.sessions.cookieName, '', deps.sessions.cookieOptions(0)))
        .redirect('/signin', 303);
    });
    registered();
  });
}

/** Only same-site absolute paths: never another host (no "//evil", "/\\evil" or scheme). */
export function safeReturnTo(value: unknown): string {
  if (typeof value !== 'string' || value.length > 512) return '/account';
  if (!/^\/(?![/\\])[\x21-\x7e]*$/.test(value)) return '/account';
  return value;
}
