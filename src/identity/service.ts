// Identity's composition and its operations that span parts: loading the KEK, keeping signing
// keys rotated, and the Docker token endpoint's logic (who is asking, what they asked for, what
// they get). Both `serve` and host-local admin commands build it from the same configuration.
import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { actorOf, type AuditRecorder } from '../audit/audit-log.js';
import type { Config } from '../config/schema.js';
import type { DatabaseHandle } from '../db/database.js';
import { AccessPolicy, ANONYMOUS, BREAK_GLASS_SUBJECT } from './access-policy.js';
import type { Principal } from './authorizer.js';
import { BearerAuthorizer } from './bearer-authorizer.js';
import { InvalidTokenError } from './errors.js';
import { IamService } from './iam.js';
import { KeyEncryptionKey } from './key-encryption.js';
import { OAuthService } from './oauth.js';
import { OAuthStore } from './oauth-store.js';
import { PasskeyService } from './passkeys.js';
import { PeopleStore } from './people-store.js';
import { SessionService } from './sessions.js';
import { SsoService } from './sso.js';
import { SsoStore } from './sso-store.js';
import { SigningKeys } from './signing-keys.js';
import { IdentityStore } from './store.js';
import { TokenService, type AccessEntry, type MintedToken } from './tokens.js';
import { TokenExchange } from './federation/exchange.js';
import { DEFAULT_ISSUER_KEY_SETTINGS, IssuerKeys } from './federation/issuer-keys.js';
import { FederationStore } from './federation/store.js';
import { TrustPolicies } from './federation/trust-policies.js';

export interface IdentityOptions {
  /** The issuer URL; a function because the listening port may be known only after start. */
  issuer: () => string;
  audit: AuditRecorder;
}

export class IdentityService {
  readonly store: IdentityStore;
  readonly keys: SigningKeys;
  readonly tokens: TokenService;
  readonly policy: AccessPolicy;
  readonly authorizer: BearerAuthorizer;
  readonly people: PeopleStore;
  readonly passkeys: PasskeyService;
  readonly sessions: SessionService;
  readonly oauth: OAuthService;
  readonly iam: IamService;
  readonly audit: AuditRecorder;
  readonly sso: SsoService;
  /** Workload identity federation: trust policies and the RFC 8693 exchange. */
  readonly trustPolicies: TrustPolicies;
  readonly issuerKeys: IssuerKeys;
  readonly exchange: TokenExchange;

  constructor(config: Config, database: DatabaseHandle, options: IdentityOptions) {
    this.store = new IdentityStore(database.db);
    const kek = KeyEncryptionKey.load(
      config.identity.keyEncryptionKey,
      join(resolve(config.dataDir), 'keys', 'kek'),
    );
    this.keys = new SigningKeys(this.store, kek, config.identity.signingKeyRotationSeconds * 1000);
    this.tokens = new TokenService(this.keys, this.store, {
      issuer: options.issuer,
      registryService: config.identity.registryService,
      defaultTtlSeconds: config.identity.accessTokenTtlSeconds,
    });
    this.policy = new AccessPolicy(this.store);
    this.authorizer = new BearerAuthorizer(this.tokens, this.policy);
    // Changes made through this replica apply at once; other replicas see them within the cache time.
    this.store.onTokensInvalidated(() => this.authorizer.forget());
    this.people = new PeopleStore(database.db);
    this.audit = options.audit;
    this.passkeys = new PasskeyService(this.people, this.store, { origin: options.issuer }, options.audit);
    this.sessions = new SessionService(this.people, options.audit, {
      idleMs: config.identity.sessionIdleSeconds * 1000,
      absoluteMs: config.identity.sessionAbsoluteSeconds * 1000,
      secure: () => options.issuer().startsWith('https:'),
    });
    this.oauth = new OAuthService(new OAuthStore(database.db), this.store, this.tokens, options.audit, {
      refreshIdleMs: config.identity.refreshIdleSeconds * 1000,
      refreshAbsoluteMs: config.identity.refreshAbsoluteSeconds * 1000,
      issuer: options.issuer,
    });
    this.iam = new IamService(this.store, this.people, this.passkeys, this.oauth, options.audit);
    this.sso = new SsoService(new SsoStore(database.db), this.store, kek, options.audit, {
      dev: config.dev,
      origin: options.issuer,
    });
    const federation = config.identity.federation;
    this.trustPolicies = new TrustPolicies(
      new FederationStore(database.db),
      this.store,
      options.audit,
      config.dev,
    );
    this.issuerKeys = new IssuerKeys({
      ...DEFAULT_ISSUER_KEY_SETTINGS,
      policy: { dev: config.dev, allowedNetworks: config.outbound.allowedNetworks },
      timeoutMs: federation.issuerTimeoutSeconds * 1000,
    });
    this.exchange = new TokenExchange(this.trustPolicies, this.issuerKeys, this.tokens, options.audit, {
      dev: config.dev,
      defaultAudience: options.issuer,
      clockSkewSeconds: federation.clockSkewSeconds,
      maxSubjectTokenLifetimeSeconds: federation.maxSubjectTokenLifetimeSeconds,
    });
  }

  /**
   * The caller behind /token Basic credentials `_oidc:<identity id>` and a workload's OIDC token:
   * the exchange in one step, as the workload principal of the token it yields.
   */
  async principalFromWorkloadToken(identity: string, subjectToken: string): Promise<Principal> {
    const { minted } = await this.exchange.exchange({
      identity,
      subjectToken,
      subjectTokenType: 'urn:ietf:params:oauth:token-type:jwt',
    });
    return this.policy.principalFor(await this.tokens.verify(minted.token, ['access']));
  }

  /** Periodic upkeep: key rotation and forgetting revocations of tokens that expired anyway. */
  async maintain(now = Date.now()): Promise<{
    keysCreated: number;
    keysDeleted: number;
    revocationsPruned: number;
    sessionsPruned: number;
  }> {
    const rotation = await this.keys.rotate(now);
    const revocationsPruned = await this.store.pruneRevoked(this.store.db, now);
    const sessionsPruned = await this.people.pruneSessions(
      this.people.db,
      now,
      this.sessions.settings.idleMs,
    );
    await this.people.pruneCeremonies(this.people.db, now);
    await this.people.pruneEnrollments(this.people.db, now);
    const oauthStore = new OAuthStore(this.store.db);
    await oauthStore.pruneDeviceGrants(oauthStore.db, now);
    await oauthStore.pruneRefreshTokens(oauthStore.db, now);
    return {
      keysCreated: rotation.created.length,
      keysDeleted: rotation.deleted,
      revocationsPruned,
      sessionsPruned,
    };
  }

  /** Host-local break-glass: an admin access token for automation on the server host. */
  async breakGlassToken(ttlSeconds: number): Promise<MintedToken> {
    const minted = await this.tokens.mintAccessToken({
      subject: BREAK_GLASS_SUBJECT,
      scope: ['registry', 'api', 'admin'],
      clientId: 'palisade-admin-cli',
      ttlSeconds,
    });
    // Who on the host asked for it is the original identity here.
    await this.audit.recordAlone({
      type: 'dev.palisade.auth.token.issued.v1',
      subject: BREAK_GLASS_SUBJECT,
      actor: { subject: BREAK_GLASS_SUBJECT, kind: 'system', act: { host: hostname(), os_user: safeUser() } },
      body: {
        kind: 'break-glass',
        jti: minted.jti,
        scope: 'registry api admin',
        expires_at: new Date(minted.expiresAt * 1000).toISOString(),
      },
    });
    return minted;
  }

  /**
   * The caller behind /token's Basic credentials: a Palisade access token as the password (any
   * username), or nobody. Registry tokens cannot be traded for new ones.
   */
  async principalFromSecret(secret: string | undefined): Promise<Principal> {
    if (secret === undefined) return ANONYMOUS;
    const verified = await this.tokens.verify(secret, ['access']);
    if (verified.kind !== 'access') throw new InvalidTokenError('only an access token can be exchanged here');
    const principal = await this.policy.principalFor(verified);
    if (!principal.scopes.has('registry') && !principal.scopes.has('admin')) {
      throw new InvalidTokenError(
        'this access token is not valid for the registry (scope "registry" missing)',
      );
    }
    return principal;
  }

  /** A registry token for the granted part of `requested`, living no longer than the caller's own token. */
  async registryToken(
    principal: Principal,
    requested: AccessEntry[],
  ): Promise<{ minted: MintedToken; access: AccessEntry[] }> {
    const access = await this.policy.grantRegistryAccess(principal, requested);
    const remaining = principal.token
      ? principal.token.claims.exp - Math.floor(Date.now() / 1000)
      : undefined;
    const ttl = Math.min(this.tokens.ttl(), remaining ?? Number.POSITIVE_INFINITY);
    const minted = await this.tokens.mintRegistryToken({
      subject: principal.subject,
      access,
      authentication: principal.authentication,
      ttlSeconds: Math.max(ttl, 1),
    });
    await this.audit.recordAlone({
      type: 'dev.palisade.auth.token.issued.v1',
      subject: principal.subject,
      actor: actorOf(principal),
      body: {
        kind: 'registry',
        jti: minted.jti,
        requested,
        access,
        expires_at: new Date(minted.expiresAt * 1000).toISOString(),
      },
    });
    return { minted, access };
  }
}

/**
 * The issuer URL: the configured public URL, else http://<host>:<port> as listened on (so a
 * host-local command computes the same issuer as `serve` from the same settings). Loopback and
 * "all interfaces" become localhost: WebAuthn accepts a host name, not an IP address, as its
 * relying party, and a browser on the server host reaches it there.
 */
export function issuerUrl(config: Config, port = config.port): string {
  if (config.publicUrl) return new URL(config.publicUrl).origin;
  const host = config.host;
  const local = ['127.0.0.1', '::1', '0.0.0.0', '::', 'localhost'].includes(host);
  const urlHost = local ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return `http://${urlHost}:${port}`;
}

/** The OS user running this process ('unknown' without a passwd entry, as in some containers). */
export function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
