// The browser side of company SSO: /sso/<id>/start sends the browser to the identity provider
// with the state bound to a short-lived cookie; /sso/callback finishes the sign-in and starts a
// session, or shows a page saying why it was refused and what to ask the IdP administrator.
// Administrators manage providers through /api/v1/iam/idps.
import { parse as parseCookie, serialize as serializeCookie } from 'cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseInput } from '../lib/validate.js';
import { html, page, PAGE_HEADERS } from '../console/html.js';
import { PeopleError } from './people-errors.js';
import type { SessionService } from './sessions.js';
import { newProviderSchema, type SsoService } from './sso.js';
import { safeReturnTo } from './web-routes.js';

const STATE_COOKIE = 'palisade-sso-state';

export function mountSso(
  app: FastifyInstance,
  deps: { sso: SsoService; sessions: SessionService; rateLimitPerMinute: number },
): void {
  // These GETs sign people in: their events need the request scope (see server.ts).
  const limited = { capability: 'public', audited: true, rateLimit: { max: deps.rateLimitPerMinute } };
  const cookieOptions = (maxAge: number) => ({
    httpOnly: true,
    secure: deps.sessions.settings.secure(),
    sameSite: 'lax' as const,
    path: '/sso/callback',
    maxAge,
  });
  const refusal = (reply: FastifyReply, error: PeopleError) =>
    reply
      .code(error.status)
      .headers(PAGE_HEADERS)
      .header('Set-Cookie', serializeCookie(STATE_COOKIE, '', cookieOptions(0)))
      .send(
        page({
          title: 'Sign-in refused',
          body: html`<h1>Sign-in refused</h1>
            <p class="error" role="alert">${error.message}</p>
            <p><a href="/signin">Back to sign-in</a></p>`,
        }),
      );

  app.get('/sso/:id/start', { config: limited }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const returnTo = safeReturnTo((request.query as Record<string, unknown>).return_to);
    try {
      const { url, state } = await deps.sso.start(id, returnTo);
      return await reply
        .header('Set-Cookie', serializeCookie(STATE_COOKIE, state, cookieOptions(600)))
        .redirect(url, 303);
    } catch (error) {
      if (error instanceof PeopleError) return refusal(reply, error);
      throw error;
    }
  });

  app.get('/sso/callback', { config: limited }, async (request: FastifyRequest, reply) => {
    const bound = parseCookie(request.headers.cookie ?? '')[STATE_COOKIE];
    const query = (request.raw.url ?? '').split('?')[1] ?? '';
    try {
      const signedIn = await deps.sso.finish(new URL(`http://callback/?${query}`), bound);
      const id = await deps.sessions.create(signedIn.userId, signedIn.authentication);
      return await reply
        .header('Set-Cookie', [
          serializeCookie(STATE_COOKIE, '', cookieOptions(0)),
          serializeCookie(
            deps.sessions.cookieName,
            id,
            deps.sessions.cookieOptions(Math.floor(deps.sessions.settings.absoluteMs / 1000)),
          ),
        ])
        .redirect(safeReturnTo(signedIn.returnTo), 303);
    } catch (error) {
      if (error instanceof PeopleError) return refusal(reply, error);
      throw error;
    }
  });

  app.get('/sso/:id/jwks.json', { config: { capability: 'public' } }, async (request) => {
    const provider = await deps.sso.provider((request.params as { id: string }).id);
    if (!provider?.public_jwk) throw new PeopleError('PALISADE_NOT_FOUND', 'no such key set');
    return { keys: [provider.public_jwk] };
  });

  const api = '/api/v1/iam/idps';
  app.get(api, { config: { capability: 'iam.users.write' } }, async () => ({
    identity_providers: await deps.sso.providers(),
  }));
  app.post(
    api,
    { config: { capability: 'iam.users.write' }, bodyLimit: 64 * 1024 },
    async (request, reply) => {
      const input = parseInput(newProviderSchema, request.body);
      return reply
        .code(201)
        .send({ ...(await deps.sso.createProvider(input)), redirect_uri: deps.sso.redirectUri });
    },
  );
  app.delete(`${api}/:id`, { config: { capability: 'iam.users.write' } }, async (request, reply) => {
    await deps.sso.deleteProvider(
      z
        .string()
        .max(64)
        .parse((request.params as { id: string }).id),
    );
    return reply.code(204).send();
  });
}
