// Composition root: configuration → database and blob store → services → routes. Also owns the
// process-level concerns every route shares: request ids, logging, security headers, metrics,
// error translation, health endpoints, background garbage collection and clean shutdown.
import { randomUUID } from 'node:crypto';
import { join, resolve } from 'node:path';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Config } from '../config/schema.js';
import type { DatabaseHandle } from '../db/database.js';
import { PalisadeError } from '../lib/errors.js';
import type { Authorizer, Principal, Target } from '../identity/authorizer.js';
import { isCapability } from '../identity/capabilities.js';
import rateLimit from '@fastify/rate-limit';
import { SYSTEM_ACTOR, type AuditLog } from '../audit/audit-log.js';
import { Checkpointer } from '../audit/checkpoints.js';
import { recordConfiguration } from '../audit/configuration.js';
import { auditScope, setPrincipal } from '../audit/context.js';
import { PullRecorder } from '../audit/pull-recorder.js';
import { Retention } from '../audit/retention.js';
import { mountAudit } from '../audit/routes.js';
import { organizationOf } from '../identity/capabilities.js';
import { PeopleError } from '../identity/people-errors.js';
import { mountIdentity } from '../identity/routes.js';
import { mountIam } from '../identity/iam-routes.js';
import { mountIdentities } from '../identity/federation/routes.js';
import { mountSso } from '../identity/sso-routes.js';
import { mountWeb } from '../identity/web-routes.js';
import { issuerUrl, type IdentityService } from '../identity/service.js';
import { collectGarbage, type GcResult } from '../registry/gc.js';
import { mountRegistry } from '../registry/routes.js';
import { RegistryService } from '../registry/service.js';
import { RegistryStore } from '../registry/store.js';
import { JobRunner } from '../jobs/runner.js';
import { JobStore } from '../jobs/store.js';
import { PALISADE_VERSION } from '../lib/version.js';
import { mountScanning } from '../scanning/routes.js';
import { createScanningMetrics } from '../scanning/metrics.js';
import { ScanService } from '../scanning/service.js';
import { ScanStore } from '../scanning/store.js';
import { VulnerabilityImporter } from '../scanning/vulndb/importer.js';
import { SYNC_JOB, VulndbMirror } from '../scanning/vulndb/mirror.js';
import { FsBlobStore } from '../storage/fs/fs-blob-store.js';
import { createStorageMetrics } from '../storage/metrics.js';
import { Deliverer } from '../delivery/deliverer.js';
import { createDeliveryMetrics } from '../delivery/metrics.js';
import { mountSubscriptions } from '../delivery/routes.js';
import { SubscriptionService } from '../delivery/service.js';
import { SinkClient } from '../delivery/sink-client.js';
import { SubscriptionStore } from '../delivery/store.js';
import { WebhookTokens } from '../delivery/webhook-token.js';
import { openCore } from './host-local.js';
import { createMetrics, type ServerMetrics } from './metrics.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The capability a route needs; routes without one are refused at registration. */
    capability?: string;
    /** A GET or HEAD route that records events (they run in an audit scope; other reads do not). */
    audited?: boolean;
    /** What the capability is needed on (a repository or an organization); the system if absent. */
    target?: (request: FastifyRequest) => Target | Promise<Target>;
  }
  interface FastifyRequest {
    /** The authorised caller, set before the handler runs on token-authorised routes. */
    principal?: Principal;
  }
}

export interface PalisadeServer {
  app: FastifyInstance;
  config: Config;
  database: DatabaseHandle;
  registry: RegistryService;
  identity: IdentityService;
  audit: AuditLog;
  checkpointer: Checkpointer;
  /** Queued pull events (when audit.recordPulls is on). */
  pulls: PullRecorder | undefined;
  retention: Retention;
  /** Event subscriptions and the worker delivering to them. */
  subscriptions: SubscriptionService;
  deliverer: Deliverer;
  /** Image analysis, SBOMs and vulnerability findings. */
  scanning: ScanService;
  /** The durable background job worker (analyses, re-evaluations). */
  jobs: JobRunner;
  /** Imports OSV records (the CLI's host-local import does the same on the database). */
  vulndb: VulnerabilityImporter;
  /** Scheduled imports from the configured OSV mirrors. */
  mirror: VulndbMirror;
  metrics: ServerMetrics;
  /** Every HTTP route with the capability it declared (the /v2 dispatcher declares per endpoint). */
  routes: RouteInventoryEntry[];
  /** Starts listening; resolves with the URL. */
  listen(): Promise<string>;
  runGc(): Promise<GcResult>;
  close(): Promise<void>;
}

export interface ServerOptions {
  /** Replaces the token-based authorizer (registry-only tests use one that allows everything). */
  authorizer?: Authorizer;
  /** A pino destination for tests; defaults to stdout. */
  logStream?: NodeJS.WritableStream;
  /** The delivery worker's clock (tests of the retry window). */
  deliveryClock?: () => number;
  /** Background jobs run only when a test calls jobs.runUntilIdle(). */
  manualJobs?: boolean;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** How long after the last write request the server counts as busy with clients. */
const WRITES_SETTLE_MS = 250;

export async function createServer(config: Config, options: ServerOptions = {}): Promise<PalisadeServer> {
  let boundPort = config.port;
  const { database, identity, audit } = await openCore(config, () => issuerUrl(config, boundPort), {
    backgroundCheckpoints: true,
  });
  await recordConfiguration(audit, config);
  await audit.settle();
  const dataDir = resolve(config.dataDir);
  const blobStore = new FsBlobStore(join(dataDir, 'blobs'), { directIo: config.registry.directIo });
  await blobStore.init();
  const store = new RegistryStore(database.db);
  const registry = new RegistryService(
    store,
    blobStore,
    {
      maxBlobBytes: config.registry.maxBlobBytes,
      maxManifestBytes: config.registry.maxManifestBytes,
      deleteEnabled: config.registry.deleteEnabled,
      gcGracePeriodMs: config.registry.gc.gracePeriodSeconds * 1000,
      maxPageSize: config.registry.maxPageSize,
    },
    audit,
  );
  const jobStore = new JobStore(database.db);
  const scanStore = new ScanStore(database.db);
  const vulndb = new VulnerabilityImporter(scanStore, audit, jobStore);
  const scanning = new ScanService(scanStore, registry, jobStore, audit, {
    namespaceBase: () => `${identity.tokens.issuer}/sbom`,
    toolVersion: PALISADE_VERSION,
    layerLimits: {
      maxDecompressedBytes: config.scanning.maxDecompressedBytes,
      maxEntries: config.scanning.maxEntries,
    },
  });
  if (config.scanning.enabled) registry.listeners.push(scanning);
  const metrics = createMetrics(() => store.countUploads(database.db));
  createScanningMetrics(metrics.registry, jobStore, scanStore);
  createStorageMetrics(metrics.registry, () => blobStore.directIo);
  const subscriptionStore = new SubscriptionStore(database.db);
  const delivery = config.audit.delivery;
  const sinkPolicy = { dev: config.dev, allowedNetworks: config.outbound.allowedNetworks };
  const deliverer = new Deliverer(
    subscriptionStore,
    audit,
    new WebhookTokens(identity.keys, () => identity.tokens.issuer),
    new SinkClient(sinkPolicy, {
      timeoutMs: delivery.timeoutSeconds * 1000,
      maxResponseBytes: delivery.maxResponseBytes,
    }),
    {
      retryWindowMs: delivery.retryHours * 3_600_000,
      backoffInitialMs: delivery.backoffInitialMilliseconds,
      backoffMaxMs: delivery.backoffMaxSeconds * 1000,
      concurrency: delivery.concurrency,
      batchSize: 100,
      leaseMs: 60_000,
      pollMs: delivery.pollMilliseconds,
    },
    createDeliveryMetrics(metrics.registry, async () =>
      (await subscriptions.list()).map((view) => ({
        id: view.id,
        org: view.org,
        lagEvents: view.lag.events,
        lagSeconds: view.lag.seconds,
        failing: view.status === 'failing',
      })),
    ),
    options.deliveryClock,
  );
  const subscriptions = new SubscriptionService(subscriptionStore, audit, sinkPolicy, () => deliverer.wake());
  audit.onAppend(() => deliverer.nudge());
  const authorizer = options.authorizer ?? identity.authorizer;
  // Background jobs (image analyses, matching, mirror syncs) give way while clients are changing
  // things — a burst of pushes is not slowed down by the analyses it causes.
  let writesInFlight = 0;
  let lastWriteAt = 0;
  const jobRunner = new JobRunner(
    jobStore,
    {
      concurrency: config.scanning.concurrency,
      pollMs: config.scanning.jobPollMilliseconds,
      busy: () => writesInFlight > 0 || Date.now() - lastWriteAt < WRITES_SETTLE_MS,
    },
    { warn: (object, message) => app.log.warn(object, message) },
  );
  for (const [kind, handler] of Object.entries(scanning.handlers())) jobRunner.handle(kind, handler);
  const mirror = new VulndbMirror(vulndb, jobStore, audit, {
    sources: config.scanning.vulndb.sources,
    maxDownloadBytes: config.scanning.vulndb.maxDownloadBytes,
    downloadTimeoutMs: config.scanning.vulndb.downloadTimeoutSeconds * 1000,
    policy: { dev: config.dev, allowedNetworks: config.outbound.allowedNetworks },
    workDir: join(dataDir, 'tmp'),
  });
  jobRunner.handle(SYNC_JOB, async (job) => {
    const result = await mirror.sync(job.payload as { url: string });
    app.log.info(
      {
        vulndb: {
          ...result,
          import: result.import && { ...result.import, errors: result.import.errors.length },
        },
      },
      'vulnerability database sync finished',
    );
    return result;
  });
  scanning.onQueued = () => jobRunner.nudge();

  const app = Fastify({
    logger: {
      level: config.logLevel,
      ...(options.logStream ? { stream: options.logStream } : {}),
      redact: ['req.headers.authorization', 'req.headers.cookie'],
    },
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    trustProxy: false,
    bodyLimit: 1024 * 1024,
    connectionTimeout: 0,
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 1024 },
  });

  if (config.registry.directIo !== 'off' && blobStore.directIo.mode === 'off') {
    app.log.warn(
      { directIo: config.registry.directIo },
      'the blob directory refuses direct I/O (O_DIRECT); blobs go through the page cache',
    );
  }

  const routes = installCapabilityGuard(app);

  // Routes other than the /v2 dispatcher (which authorises per endpoint) are checked here.
  app.addHook('preHandler', async (request) => {
    const capability = request.routeOptions.config.capability;
    if (capability === undefined || capability === 'dispatch' || capability === 'public') return;
    if (capability === 'session') return; // the web routes resolve the session cookie themselves
    if (!isCapability(capability)) throw new Error(`unknown capability ${capability}`);
    request.principal = await authorizer.authorize(
      { ip: request.ip, requestId: request.id, authorization: request.headers.authorization },
      capability,
      await request.routeOptions.config.target?.(request),
    );
    setPrincipal(request.principal);
  });

  // Every request runs in an audit scope: events recorded while serving it name this request
  // and, once authorised, its caller.
  // Reads skip it: on Node 20 an AsyncLocalStorage scope slows every promise in the request
  // (~15% of a manifest GET), and a read records nothing — pulls are queued with their caller
  // passed explicitly. GET routes that do record events say so with `audited`.
  app.addHook('onRequest', (request, _reply, done) => {
    if ((request.method === 'GET' || request.method === 'HEAD') && !request.routeOptions.config.audited) {
      done();
      return;
    }
    const userAgent = request.headers['user-agent'];
    auditScope.run(
      {
        requestId: request.id,
        ip: request.ip,
        ...(userAgent ? { userAgent: userAgent.slice(0, 300) } : {}),
        path: (request.raw.url ?? '/').split('?')[0]!.slice(0, 1000),
      },
      done,
    );
  });

  // Write requests under way, and when the last one ended: background jobs give way to them.
  app.addHook('onRequest', (request, reply, done) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      writesInFlight += 1;
      reply.raw.once('close', () => {
        writesInFlight -= 1;
        lastWriteAt = Date.now();
      });
    }
    done();
  });
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('X-Request-Id', request.id);
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('X-Frame-Options', 'DENY');
    reply.header('Referrer-Policy', 'no-referrer');
    reply.header('Cross-Origin-Resource-Policy', 'same-origin');
    if (identity.tokens.issuer.startsWith('https:')) {
      reply.header('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
    }
    done();
  });

  // Once shutdown starts, every response closes its connection: keep-alive clients (skopeo,
  // podman, docker) would otherwise hold the process open until the shutdown timeout.
  let closing = false;
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('Connection', 'close');
    done(null, payload);
  });

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.registryRoute ?? request.routeOptions.url ?? 'unmatched';
    const labels = { method: request.method, route, status: String(reply.statusCode) };
    metrics.requests.inc(labels);
    metrics.duration.observe(labels, reply.elapsedTime / 1000);
    done();
  });

  app.setErrorHandler((error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    const body = errorBody(error, request);
    if (body.status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: body.code, status: body.status }, 'request refused');
    if (error instanceof PalisadeError) reply.headers(error.headers);
    const payload =
      error instanceof PalisadeError
        ? error.body()
        : { errors: [{ code: body.code, message: body.message }] };
    const hasBody =
      (request.headers['content-length'] !== undefined && request.headers['content-length'] !== '0') ||
      request.headers['transfer-encoding'] !== undefined;
    if (hasBody && !request.raw.readableEnded) {
      // Unread body left on the socket would be parsed as the next request: close instead.
      reply.header('Connection', 'close');
      request.raw.resume();
    }
    return reply.code(body.status).header('Content-Type', 'application/json; charset=utf-8').send(payload);
  });

  app.setNotFoundHandler({}, (request, reply) =>
    reply.code(404).send({
      errors: [
        {
          code: 'PALISADE_NOT_FOUND',
          message: `no route for ${request.method} ${request.url.split('?')[0]}`,
        },
      ],
    }),
  );

  app.get('/healthz', { config: { capability: 'public' } }, () => ({ status: 'ok' }));
  app.get('/readyz', { config: { capability: 'public' } }, async (_request, reply) => {
    const checks: Record<string, string> = {};
    await database.ping().then(
      () => (checks.database = 'ok'),
      () => (checks.database = 'unreachable'),
    );
    await blobStore.ping().then(
      () => (checks.storage = 'ok'),
      () => (checks.storage = 'unreachable'),
    );
    const ready = Object.values(checks).every((v) => v === 'ok');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
  app.get('/metrics', { config: { capability: 'metrics.read' } }, async (_request, reply) => {
    return reply.header('Content-Type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  audit.onChainError((error) =>
    app.log.error({ err: error }, 'chaining audit events failed; they wait in the outbox'),
  );
  const pulls = config.audit.recordPulls
    ? new PullRecorder(audit, (error) => app.log.error({ err: error }, 'recording pulls failed'))
    : undefined;
  mountRegistry(app, {
    service: registry,
    authorizer,
    metrics,
    ...(pulls
      ? {
          onPull: (repository, digest, reference, request) =>
            pulls.record(repository, digest, reference, organizationOf(repository), request),
        }
      : {}),
  });
  // Per client address, on the unauthenticated endpoints that opt in (sign-in, tokens).
  await app.register(rateLimit, {
    global: false,
    timeWindow: 60_000,
    keyGenerator: (request) => request.ip,
    errorResponseBuilder: (_request, context) =>
      new PeopleError(
        'PALISADE_RATE_LIMITED',
        `too many requests from your address; try again in ${Math.ceil(context.ttl / 1000)} s`,
      ),
  });
  mountIdentity(app, identity, {
    perMinute: config.identity.rateLimitPerMinute,
    tokenPerMinute: config.identity.tokenRateLimitPerMinute,
  });
  mountIam(app, identity.iam, identity.store);
  mountIdentities(app, identity.trustPolicies);
  mountAudit(app, audit);
  mountSubscriptions(app, subscriptions);
  mountScanning(app, { scanning, registry });
  mountSso(app, {
    sso: identity.sso,
    sessions: identity.sessions,
    rateLimitPerMinute: config.identity.rateLimitPerMinute,
  });
  mountWeb(app, {
    sso: identity.sso,
    passkeys: identity.passkeys,
    oauth: identity.oauth,
    sessions: identity.sessions,
    store: identity.store,
    origin: () => identity.tokens.issuer,
    rateLimitPerMinute: config.identity.rateLimitPerMinute,
  });

  let gcRunning: Promise<GcResult> | undefined;
  const runGc = () => {
    gcRunning ??= collectGarbage(registry, {
      gracePeriodMs: config.registry.gc.gracePeriodSeconds * 1000,
      uploadExpiryMs: config.registry.gc.uploadExpirySeconds * 1000,
      deleteUntagged: config.registry.gc.deleteUntagged,
    })
      .then(async (result) => {
        // GC deletes manifests below the registry service; what scanning knew of them goes too.
        await scanning.store
          .forgetOrphans(database.db)
          .catch((error: unknown) =>
            result.errors.push(`scan data: ${error instanceof Error ? error.message : String(error)}`),
          );
        app.log.info({ gc: result }, 'garbage collection finished');
        // One summary event per run: what was removed, by the system, and what went wrong.
        await audit.recordAlone({
          type: 'dev.palisade.registry.gc.completed.v1',
          actor: SYSTEM_ACTOR,
          body: result,
        });
        return result;
      })
      .finally(() => (gcRunning = undefined));
    return gcRunning;
  };
  let gcTimer: NodeJS.Timeout | undefined;
  const checkpointer = new Checkpointer(audit.store, identity.keys, () => identity.tokens.issuer, {
    everyEvents: config.audit.checkpointEveryEvents,
    everyMs: config.audit.checkpointEverySeconds * 1000,
  });
  const retention = new Retention(
    audit,
    identity.keys,
    () => identity.tokens.issuer,
    {
      retentionMs: config.audit.retentionDays * 86_400_000,
      legalHold: config.audit.legalHold,
    },
    () => subscriptionStore.lowestCursor(database.db),
  );
  const maintenanceTimer = setInterval(() => {
    identity.maintain().catch((error: unknown) => app.log.error({ err: error }, 'identity upkeep failed'));
    void retention.prune().then((result) => {
      if (result.pruned > 0 || result.errors.length > 0)
        app.log.info({ retention: result }, 'audit retention ran');
    });
  }, 60_000);
  maintenanceTimer.unref();
  const checkpointTimer = setInterval(() => {
    checkpointer
      .maybeCheckpoint()
      .catch((error: unknown) => app.log.error({ err: error }, 'audit checkpoint failed'));
  }, 10_000);
  checkpointTimer.unref();

  return {
    app,
    config,
    database,
    registry,
    identity,
    audit,
    checkpointer,
    pulls,
    retention,
    subscriptions,
    deliverer,
    scanning,
    jobs: jobRunner,
    vulndb,
    mirror,
    metrics,
    routes,
    async listen() {
      const url = await app.listen({ host: config.host, port: config.port });
      const address = app.server.address();
      if (address && typeof address === 'object') boundPort = address.port;
      const enrollment = await identity.passkeys.bootstrapLink();
      if (enrollment) {
        app.log.warn(
          { enrollmentUrl: enrollment.url, expiresAt: new Date(enrollment.expiresAt).toISOString() },
          'no administrator exists yet: open this one-time link within 15 minutes to register the first administrator’s passkey (palisade admin enroll prints a new one)',
        );
      }
      deliverer.start();
      audit.startSweeping();
      await mirror.schedule();
      if (!options.manualJobs) jobRunner.start();
      if (config.registry.gc.enabled) {
        gcTimer = setInterval(
          () => void runGc().catch(() => undefined),
          config.registry.gc.intervalSeconds * 1000,
        );
        gcTimer.unref();
      }
      return url;
    },
    runGc,
    async close() {
      closing = true;
      if (gcTimer) clearInterval(gcTimer);
      clearInterval(maintenanceTimer);
      clearInterval(checkpointTimer);
      // Responses that bypass onSend (blob downloads write to the socket themselves) leave
      // keep-alive connections behind as they finish: sweep idle ones until the server is shut.
      const sweeper = setInterval(() => app.server.closeIdleConnections(), 100);
      try {
        await app.close();
      } finally {
        clearInterval(sweeper);
      }
      await gcRunning?.catch(() => undefined);
      await pulls?.flush();
      await deliverer.stop();
      await jobRunner.stop();
      audit.stopSweeping();
      // Events still in the outbox are chained now (or by the next server to start).
      await audit.settle().catch(() => undefined);
      await blobStore.close();
      await database.close();
    },
  };
}

export interface RouteInventoryEntry {
  method: string;
  url: string;
  capability: string;
}

/** Deny by default: a route that does not say what it needs never gets registered. */
export function installCapabilityGuard(app: FastifyInstance): RouteInventoryEntry[] {
  const inventory: RouteInventoryEntry[] = [];
  app.addHook('onRoute', (route) => {
    const capability = route.config?.capability;
    if (!capability || (capability !== 'dispatch' && !isCapability(capability))) {
      throw new Error(`route ${String(route.method)} ${route.url} declares no known capability`);
    }
    for (const method of [route.method].flat()) inventory.push({ method, url: route.url, capability });
  });
  return inventory;
}

interface ErrorBody {
  status: number;
  code: string;
  message: string;
  detail?: unknown;
}

function errorBody(error: FastifyError | Error, request: FastifyRequest): ErrorBody {
  if (error instanceof PalisadeError) {
    return { status: error.status, code: error.code, message: error.message, detail: error.detail };
  }
  const fastifyError = error as FastifyError;
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    if (status === 413) return { status, code: 'SIZE_INVALID', message: 'request body too large' };
    if (status === 415)
      return { status, code: 'PALISADE_UNSUPPORTED_MEDIA_TYPE', message: 'unsupported Content-Type' };
    return { status, code: 'PALISADE_BAD_REQUEST', message: 'malformed request' };
  }
  return {
    status: 500,
    code: 'PALISADE_INTERNAL',
    message: `internal error; the server log has details under request id ${request.id}`,
  };
}
