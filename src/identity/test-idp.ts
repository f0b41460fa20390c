// A real OpenID Provider for tests, acting as "the company IdP": oidc-provider on loopback with
// one confidential client (Palisade). Each sign-in completes without a login form, as the
// account and with the authentication methods (amr) and level (acr) the test sets beforehand.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export interface NextLogin {
  accountId: string;
  amr?: string[];
  acr?: string;
  email?: string;
  emailVerified?: boolean;
}

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Who the next sign-in will be, and how they "authenticated". */
  next: NextLogin;
  close(): Promise<void>;
}

/** `client` replaces how the Palisade client authenticates (e.g. private_key_jwt with its public key). */
export async function startTestIdp(
  redirectUri: string,
  client: Record<string, unknown> = {},
): Promise<TestIdp> {
  const http: Server = createServer();
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  const state: TestIdp = {
    issuer,
    clientId: 'palisade',
    clientSecret: 'test-client-secret-that-is-long-enough-0123456789',
    next: { accountId: 'alice' },
    close: () => new Promise<void>((resolve) => http.close(() => resolve())),
  };
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: state.clientId,
        client_secret: state.clientSecret,
        redirect_uris: [redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        ...client,
      },
    ],
    claims: {
      acr: null,
      amr: null,
      auth_time: null,
      sid: null,
      openid: ['sub', 'amr', 'acr', 'auth_time'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    acrValues: ['urn:corp:mfa', 'urn:corp:pwd'],
    findAccount: (_ctx, id) => ({
      accountId: id,
      claims: () => ({
        sub: id,
        email: state.next.email ?? `${id}@corp.example`,
        email_verified: state.next.emailVerified ?? true,
        name: `${id} (corp)`,
      }),
    }),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    features: { devInteractions: { enabled: false } },
    cookies: { keys: ['test-idp-cookie-key'] },
    pkce: { required: () => true },
  });
  const callback = provider.callback();
  http.on('request', (req, res) => {
    if (!req.url?.startsWith('/interaction/')) {
      void callback(req, res);
      return;
    }
    void (async () => {
      const details = await provider.interactionDetails(req, res);
      const grant = new provider.Grant({
        accountId: state.next.accountId,
        clientId: String(details.params.client_id),
      });
      grant.addOIDCScope(String(details.params.scope));
      const grantId = await grant.save();
      await provider.interactionFinished(
        req,
        res,
        {
          login: {
            accountId: state.next.accountId,
            ...(state.next.amr ? { amr: state.next.amr } : {}),
            ...(state.next.acr ? { acr: state.next.acr } : {}),
          },
          consent: { grantId },
        },
        { mergeWithLastSubmission: false },
      );
    })().catch(() => {
      res.statusCode = 500;
      res.end();
    });
  });
  return state;
}

/**
 * Follows a browser's redirects through the IdP (keeping its cookies) until they lead back to
 * `origin`; returns that path (Palisade's /sso/callback?… with code and state).
 */
export async function throughIdp(location: string, issuer: string, origin: string): Promise<string> {
  const jar = new Map<string, string>();
  let next = location;
  for (let hops = 0; hops < 10 && next.startsWith(issuer); hops += 1) {
    const res = await fetch(next, {
      redirect: 'manual',
      headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    for (const header of res.headers.getSetCookie()) {
      const [pair] = header.split(';');
      const eq = pair!.indexOf('=');
      jar.set(pair!.slice(0, eq), pair!.slice(eq + 1));
    }
    next = new URL(res.headers.get('location') ?? '', next).href;
  }
  if (!next.startsWith(`${origin}/sso/callback?`))
    throw new Error(`the IdP did not send the browser back to Palisade: ${next}`);
  return next.slice(origin.length);
}
