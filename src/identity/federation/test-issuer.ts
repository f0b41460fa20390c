// Test helper: a real OIDC issuer over HTTP on loopback, as CI platforms and clusters run them —
// discovery, a JWKS with Cache-Control, RS256 signing — that mints GitHub-Actions-shaped and
// Kubernetes-service-account-shaped tokens, rotates its key, can go down, and logs every request
// it receives (so tests can assert that nobody asked it anything).
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export interface WorkloadIssuer {
  issuer: string;
  /** Paths requested, in order. */
  requests: string[];
  /** While true, every request is refused at the socket (the issuer is down). */
  down: boolean;
  /** Signs claims (iss, iat, exp, jti filled in unless given) with the current key. */
  mint(claims: Record<string, unknown>, options?: MintOptions): Promise<string>;
  /** A new key with a new kid replaces the current one in the JWKS. */
  rotate(): Promise<string>;
  kid(): string;
  close(): Promise<void>;
}

export interface MintOptions {
  kid?: string;
  /** Seconds from now; default 300. */
  expiresIn?: number;
  /** Seconds since the epoch; default now. */
  iat?: number;
  /** Sign with this key instead (a forger's), keeping the header's kid. */
  key?: CryptoKey;
}

async function newKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const kid = randomUUID().slice(0, 8);
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

export async function startWorkloadIssuer(): Promise<WorkloadIssuer> {
  let key = await newKey();
  const state: WorkloadIssuer = {
    issuer: '',
    requests: [],
    down: false,
    async mint(claims, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      const iat = options.iat ?? now;
      return new SignJWT({ jti: randomUUID(), ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: options.kid ?? key.kid, typ: 'JWT' })
        .setIssuer((claims.iss as string | undefined) ?? state.issuer)
        .setIssuedAt(iat)
        .setNotBefore((claims.nbf as number | undefined) ?? iat)
        .setExpirationTime((claims.exp as number | undefined) ?? iat + (options.expiresIn ?? 300))
        .sign(options.key ?? key.privateKey);
    },
    async rotate() {
      key = await newKey();
      return key.kid;
    },
    kid: () => key.kid,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  const server: Server = createServer((request, response) => {
    state.requests.push(request.url ?? '');
    if (state.down) {
      request.socket.destroy();
      return;
    }
    if (request.url === '/.well-known/openid-configuration') {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      response.end(JSON.stringify({ issuer: state.issuer, jwks_uri: `${state.issuer}/keys` }));
      return;
    }
    if (request.url === '/keys') {
      response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' });
      response.end(JSON.stringify({ keys: [key.jwk] }));
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

/** Claims as GitHub Actions puts them in a job's OIDC token. */
export function githubClaims(options: {
  repository: string;
  ref?: string;
  environment?: string;
  audience: string | string[];
  workflow?: string;
}): Record<string, unknown> {
  const ref = options.ref ?? 'refs/heads/main';
  const workflow = options.workflow ?? 'release.yml';
  const [owner] = options.repository.split('/');
  return {
    sub: options.environment
      ? `repo:${options.repository}:environment:${options.environment}`
      : `repo:${options.repository}:ref:${ref}`,
    aud: options.audience,
    repository: options.repository,
    repository_id: '123456789',
    repository_owner: owner,
    ref,
    ref_type: 'branch',
    sha: 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3',
    workflow: 'Release',
    workflow_ref: `${options.repository}/.github/workflows/${workflow}@${ref}`,
    job_workflow_ref: `${options.repository}/.github/workflows/${workflow}@${ref}`,
    event_name: 'push',
    run_id: '9876543210',
    run_attempt: '1',
    actor: 'octocat',
    runner_environment: 'github-hosted',
    ...(options.environment ? { environment: options.environment } : {}),
  };
}

/** Claims of a Kubernetes projected service-account token. */
export function kubernetesClaims(options: {
  namespace: string;
  serviceAccount: string;
  audience: string | string[];
}): Record<string, unknown> {
  return {
    sub: `system:serviceaccount:${options.namespace}:${options.serviceAccount}`,
    aud: options.audience,
    'kubernetes.io': {
      namespace: options.namespace,
      pod: { name: `${options.serviceAccount}-7d4b9c-x2x9q`, uid: randomUUID() },
      serviceaccount: { name: options.serviceAccount, uid: randomUUID() },
    },
  };
}
