// Identity's HTTP edge: OIDC discovery, the public JWKS, and the Docker registry token endpoint
// (GET with Basic auth per the Docker token spec; POST form per its OAuth2 variant). Handlers
// parse and bound input, call the identity service, and shape the protocol's response.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isValidRepositoryName } from '../registry/names.js';
import { OciError } from '../registry/errors.js';
import type { Principal } from './authorizer.js';
import { InvalidTokenError, OAuthError } from './errors.js';
import type { IdentityService } from './service.js';
import { SCOPES } from './access-policy.js';
import type { AccessEntry } from './tokens.js';
import { ACCESS_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT } from './federation/exchange.js';

/** The /token username that makes the password a workload's OIDC token to exchange (`_oidc:<id>`). */
const WORKLOAD_USERNAME = /^_oidc:(.{1,64})$/;

const MAX_SCOPES = 32;
const MAX_SCOPE_LENGTH = 600;
/** Room for a 16 KiB workload token in a token-exchange form. */
const MAX_FORM_BYTES = 32 * 1024;

export function mountIdentity(
  app: FastifyInstance,
  identity: IdentityService,
  limits: { perMinute: number; tokenPerMinute: number },
): void {
  app.get(
    '/.well-known/openid-configuration',
    { config: { capability: 'public' } },
    async (_request, reply) => {
      const issuer = identity.tokens.issuer;
      return reply.header('Cache-Control', 'public, max-age=300').send({
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        token_endpoint: `${issuer}/oauth/token`,
        device_authorization_endpoint: `${issuer}/oauth/device_authorization`,
        revocation_endpoint: `${issuer}/oauth/revoke`,
        grant_types_supported: [
          'urn:ietf:params:oauth:grant-type:device_code',
          'refresh_token',
          TOKEN_EXCHANGE_GRANT,
        ],
        scopes_supported: [...SCOPES],
        response_types_supported: [],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256'],
        token_endpoint_auth_methods_supported: ['none'],
        revocation_endpoint_auth_methods_supported: ['none'],
        registry_token_endpoint: `${issuer}/token`,
        registry_service: identity.tokens.registryService,
      });
    },
  );

  app.get('/.well-known/jwks.json', { config: { capability: 'public' } }, async (_request, reply) => {
    return reply.header('Cache-Control', 'public, max-age=300').send(await identity.keys.jwks());
  });

  // Docker token spec: GET /token?service=…&scope=…, credentials (if any) as HTTP Basic.
  app.get(
    '/token',
    { config: { capability: 'public', audited: true, rateLimit: { max: limits.tokenPerMinute } } },
    async (request, reply) => {
      const query = new URLSearchParams((request.raw.url ?? '').split('?')[1] ?? '');
      const requested = parseRequest(
        query.get('service'),
        query.getAll('scope'),
        identity,
        (message) => new OAuthError('invalid_request', message),
      );
      let principal: Principal;
      try {
        const credentials = basicCredentials(request.headers.authorization);
        const workload = credentials && WORKLOAD_USERNAME.exec(credentials.username);
        principal = workload
          ? await identity.principalFromWorkloadToken(workload[1]!, credentials.secret)
          : await identity.principalFromSecret(credentials?.secret);
      } catch (error) {
        if (error instanceof OAuthError) {
          throw new OciError('UNAUTHORIZED', `workload token refused: ${error.message}`, {
            headers: { 'WWW-Authenticate': 'Basic realm="palisade", charset="UTF-8"' },
          });
        }
        if (!(error instanceof InvalidTokenError)) throw error;
        throw new OciError(
          'UNAUTHORIZED',
          `credentials refused: ${error.reason}; sign in again (palisade auth login) and use a fresh access token as the password`,
          {
            headers: { 'WWW-Authenticate': 'Basic realm="palisade", charset="UTF-8"' },
          },
        );
      }
      const { minted } = await identity.registryToken(principal, requested);
      return reply.header('Cache-Control', 'no-store').send({
        token: minted.token,
        access_token: minted.token,
        expires_in: minted.expiresIn,
        issued_at: new Date(minted.issuedAt * 1000).toISOString(),
      });
    },
  );

  // The OAuth2 variant (what containerd and newer docker use): grant_type=password with the access
  // token as the password. No refresh tokens are issued, so refresh_token grants are refused.
  void app.register((scope, _options, done) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'string', bodyLimit: MAX_FORM_BYTES },
      (_request, body, next) => next(null, new URLSearchParams(body as string)),
    );
    scope.post(
      '/token',
      { config: { capability: 'public' } },
      async (request: FastifyRequest, reply: FastifyReply) => {
        const form = request.body instanceof URLSearchParams ? request.body : new URLSearchParams();
        const grantType = form.get('grant_type');
        if (grantType !== 'password') {
          throw new OAuthError(
            grantType ? 'unsupported_grant_type' : 'invalid_request',
            grantType
              ? `grant_type ${grantType} is not supported here; use password with an access token as the password`
              : 'grant_type is required',
          );
        }
        const password = form.get('password');
        if (!password)
          throw new OAuthError('invalid_request', 'password (a Palisade access token) is required');
        const requested = parseRequest(
          form.get('service'),
          form.getAll('scope'),
          identity,
          (message) => new OAuthError('invalid_request', message),
        );
        let principal: Principal;
        try {
          const workload = WORKLOAD_USERNAME.exec(form.get('username') ?? '');
          principal = workload
            ? await identity.principalFromWorkloadToken(workload[1]!, password)
            : await identity.principalFromSecret(password);
        } catch (error) {
          if (!(error instanceof InvalidTokenError)) throw error;
          throw new OAuthError('invalid_grant', `credentials refused: ${error.reason}`);
        }
        const { minted, access } = await identity.registryToken(principal, requested);
        return reply.header('Cache-Control', 'no-store').send({
          access_token: minted.token,
          token_type: 'Bearer',
          expires_in: minted.expiresIn,
          issued_at: new Date(minted.issuedAt * 1000).toISOString(),
          scope: access.map((a) => `${a.type}:${a.name}:${a.actions.join(',')}`).join(' '),
        });
      },
    );

    // RFC 8628 device authorization, and the token endpoint for its grant and refresh tokens.
    const limited = { capability: 'public', rateLimit: { max: limits.perMinute } };
    scope.post('/oauth/device_authorization', { config: limited }, async (request, reply) => {
      const form = formOf(request);
      const started = await identity.oauth.startDeviceAuthorization(
        form.get('client_id') ?? undefined,
        form.get('scope') ?? undefined,
      );
      return reply.header('Cache-Control', 'no-store').send(started);
    });
    // Exchanges come from CI fleets and clusters: they get /token's larger allowance, counted apart.
    const exchanging = (request: FastifyRequest) =>
      request.body instanceof URLSearchParams && request.body.get('grant_type') === TOKEN_EXCHANGE_GRANT;
    const tokenLimit = {
      capability: 'public',
      rateLimit: {
        hook: 'preHandler' as const,
        max: (request: FastifyRequest) => (exchanging(request) ? limits.tokenPerMinute : limits.perMinute),
        keyGenerator: (request: FastifyRequest) =>
          `${request.ip}|${exchanging(request) ? 'exchange' : 'oauth'}`,
      },
    };
    scope.post('/oauth/token', { config: tokenLimit }, async (request, reply) => {
      const form = formOf(request);
      const grantType = form.get('grant_type');
      const clientId = form.get('client_id') ?? undefined;
      let tokens;
      if (grantType === 'urn:ietf:params:oauth:grant-type:device_code') {
        tokens = await identity.oauth.pollDevice(form.get('device_code') ?? undefined, clientId);
      } else if (grantType === 'refresh_token') {
        tokens = await identity.oauth.refresh(form.get('refresh_token') ?? undefined, clientId);
      } else if (grantType === TOKEN_EXCHANGE_GRANT) {
        const requestedType = form.get('requested_token_type');
        if (requestedType !== null && requestedType !== ACCESS_TOKEN_TYPE) {
          throw new OAuthError('invalid_request', `requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
        }
        const { minted } = await identity.exchange.exchange({
          subjectToken: form.get('subject_token') ?? undefined,
          subjectTokenType: form.get('subject_token_type') ?? undefined,
          identity: form.get('identity') ?? undefined,
        });
        tokens = {
          access_token: minted.token,
          issued_token_type: ACCESS_TOKEN_TYPE,
          token_type: 'Bearer',
          expires_in: minted.expiresIn,
          scope: 'registry api',
        };
      } else {
        throw new OAuthError(
          grantType ? 'unsupported_grant_type' : 'invalid_request',
          grantType ? `grant_type ${grantType} is not supported` : 'grant_type is required',
        );
      }
      return reply.header('Cache-Control', 'no-store').header('Pragma', 'no-cache').send(tokens);
    });
    scope.post('/oauth/revoke', { config: limited }, async (request, reply) => {
      await identity.oauth.revoke(formOf(request).get('token') ?? undefined);
      return reply.header('Cache-Control', 'no-store').send({});
    });
    done();
  });
}

function formOf(request: FastifyRequest): URLSearchParams {
  if (!(request.body instanceof URLSearchParams)) {
    throw new OAuthError('invalid_request', 'send the parameters as application/x-www-form-urlencoded');
  }
  return request.body;
}

/** The username and password of an HTTP Basic header, or undefined when there is none. */
function basicCredentials(header: string | undefined): { username: string; secret: string } | undefined {
  if (!header) return undefined;
  const match = /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (!match) throw new InvalidTokenError('the Authorization header must be HTTP Basic');
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  // `_oidc:<id>` holds a colon itself (RFC 7617 user-ids cannot): the id ends at the next one.
  const colon = decoded.indexOf(':', decoded.startsWith('_oidc:') ? '_oidc:'.length : 0);
  if (colon === -1) throw new InvalidTokenError('malformed Basic credentials');
  return { username: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

/** Checks `service` and parses Docker scopes (`repository:<name>:<actions>`, `registry:catalog:*`). */
function parseRequest(
  service: string | null,
  scopes: string[],
  identity: IdentityService,
  fail: (message: string) => Error,
): AccessEntry[] {
  if (service !== null && service !== identity.tokens.registryService) {
    throw fail(
      `unknown service ${JSON.stringify(service.slice(0, 100))}; this registry's service is ${identity.tokens.registryService}`,
    );
  }
  const items = scopes.flatMap((s) => s.split(' ')).filter(Boolean);
  if (items.length > MAX_SCOPES) throw fail(`at most ${MAX_SCOPES} scopes per request`);
  const entries: AccessEntry[] = [];
  for (const item of items) {
    if (item.length > MAX_SCOPE_LENGTH) throw fail('scope too long');
    const first = item.indexOf(':');
    const last = item.lastIndexOf(':');
    if (first === -1 || first === last)
      throw fail(`malformed scope ${JSON.stringify(item)}; expected type:name:actions`);
    const type = item.slice(0, first);
    const name = item.slice(first + 1, last);
    const actions = item
      .slice(last + 1)
      .split(',')
      .filter(Boolean);
    if (type === 'repository') {
      if (!isValidRepositoryName(name))
        throw fail(`invalid repository name in scope ${JSON.stringify(item)}`);
      entries.push({ type, name, actions });
    } else if (type === 'registry') {
      entries.push({ type, name, actions });
    }
    // Other resource types are ignored, as the Docker token spec allows.
  }
  return entries;
}
