/**
 * Gateway configuration, read once from the environment and validated up front so a bad value
 * stops the process with a message naming the variable, instead of misbehaving later.
 */
export interface GatewayConfig {
  /** TCP port to listen on; ignored when `socketPath` is set. */
  port: number;
  hostname: string;
  /** Unix domain socket to listen on instead of TCP (for a load balancer on the same host). */
  socketPath: string | null;
  defaultProcessorUrl: string;
  fallbackProcessorUrl: string;
  paymentWorkers: number;
  queueCapacity: number;
  ledgerCapacity: number;
  /** Client timeout of one POST /payments to a processor; past it the payment is "in doubt". */
  processorTimeoutMs: number;
  /** Transport of processor calls: raw keep-alive sockets (default) or undici's Pool. */
  processorClient: 'raw' | 'undici';
  /** Calls one processor takes at once from the whole deployment; each instance gets its share. */
  processorConcurrency: number;
  /** Upper bound on calls in flight to one processor from this instance (all workers together). */
  maxInflightPerProcessor: number;
  healthIntervalMs: number;
  /** Whether this instance polls service-health itself (one poller per deployment is enough). */
  healthPoll: boolean;
  /** Other instances of the deployment (http://host:port or unix:/path.sock), in deployment order without this one. */
  peers: string[];
  /** This instance's position in the deployment (0 .. instances - 1): it owns the correlationIds that map to it. */
  instanceIndex: number;
  /** Instances of the deployment: peers + 1, or FLEET_SIZE on Redis (requestedAts are unique per instance modulo this). */
  instances: number;
  /** Fleet mode: the Redis every host shares (ledger, accepted ids, work queue, health reports); null: embedded. */
  redisUrl: string | null;
  /** Fleet mode: how long any Redis command (or connection attempt) may take before it fails and the connection is replaced. */
  redisTimeoutMs: number;
  /**
   * Fleet mode: replicas that must acknowledge a payment's write (WAIT) before its 202, and an
   * attempt's before its call leaves (0: none; a failover to an asynchronous replica may then
   * lose acknowledged payments), and how long to wait for them before answering 503 instead.
   */
  redisWaitReplicas: number;
  redisWaitTimeoutMs: number;
  /** Fleet mode: settled correlationIds are remembered one to two of these, a window's ms edges are exact within one. */
  redisHorizonMs: number;
  /** Fees of the two processors, as fractions (0.05 = 5%): the hold rule weighs them. */
  defaultFee: number;
  fallbackFee: number;
  /** Settlement-time budget: past it, a waiting payment goes to any processor that can take it. */
  maxSettleMs: number;
  /** How long a payment may wait for a failing default before a healthy, fast fallback takes it. */
  maxHoldMs: number;
  /** Shortest lag behind now of an auditor's window: requestedAt is dated so both sides hold a payment by then. */
  auditLagMs: number;
  /**
   * The least delay every payment is dated for, a cover against a processor's sudden slowdown
   * (0: each processor's own pace). It costs the payments of its last `datingCoverMs` at every
   * end of a run (dated after the final count's window): see README "When a payment is dated".
   */
  datingCoverMs: number;
  /** Latency above which a processor counts as slow (seed design: 200 ms). */
  latencyThresholdMs: number;
  /** Consecutive failed calls that open a processor's circuit breaker. */
  breakerFailureThreshold: number;
  /** Interval between single-payment probes of a processor whose breaker is open. */
  probeIntervalMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** After this long since its last call, an in-doubt payment the processor still does not hold may go elsewhere. */
  doubtReleaseMs: number;
  maxBodyBytes: number;
  shutdownGraceMs: number;
  /** Directory of this instance's journal (durable acceptance), or null when journaling is off. */
  journalDir: string | null;
  /** fsync the journal this often (ms); 0 = never (records still survive a process crash). */
  journalFsyncMs: number;
}

type Env = Record<string, string | undefined>;

export class ConfigError extends Error {}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(`${name} must be a whole number, got "${raw}"`);
  const value = Number(raw.trim());
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function choice<T extends string>(env: Env, name: string, options: readonly T[], fallback: T): T {
  const raw = (env[name] ?? '').trim();
  if (raw === '') return fallback;
  if (!(options as readonly string[]).includes(raw)) throw new ConfigError(`${name} must be one of ${options.join(', ')}, got "${raw}"`);
  return raw as T;
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const normalized = raw.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(normalized)) return true;
  if (['0', 'false', 'no', 'off'].includes(normalized)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function httpUrl(env: Env, name: string, fallback: string): string {
  const raw = (env[name] ?? '').trim() || fallback;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} must be an http:// URL, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http:// URL, got "${raw}"`);
  }
  return url.origin;
}

function peerList(env: Env, name: string): string[] {
  const raw = (env[name] ?? '').trim();
  if (raw === '') return [];
  return raw.split(',').map((entry) => {
    const peer = entry.trim();
    if (peer.startsWith('unix:') && peer.length > 'unix:'.length) return peer;
    try {
      const url = new URL(peer);
      if (url.protocol === 'http:') return url.origin;
    } catch {
      // reported below
    }
    throw new ConfigError(`${name} must be a comma-separated list of http://host:port or unix:/path/to.sock, got "${peer}"`);
  });
}

/** JOURNAL_DIR, "off", or by default a directory named after the listen address (one per instance). */
function journalDir(env: Env, socketPath: string | null, port: number): string | null {
  const raw = (env.JOURNAL_DIR ?? '').trim();
  if (raw === 'off') return null;
  if (raw !== '') return raw;
  const instance = socketPath ? socketPath.replace(/^.*\//, '').replace(/\.sock$/, '') : `port-${port}`;
  return `.run/journal/${instance}`;
}

/** REDIS_URL: redis://[user:password@]host:port[/db], or null (embedded deployment). */
function redisUrl(env: Env): string | null {
  const raw = (env.REDIS_URL ?? '').trim();
  if (raw === '') return null;
  let url: URL | null = null;
  try {
    url = new URL(raw);
  } catch {
    // reported below
  }
  if (url === null || (url.protocol !== 'redis:' && url.protocol !== 'rediss:')) throw new ConfigError(`REDIS_URL must be a redis:// URL, got "${raw}"`);
  return raw;
}

/** A fee as a fraction: "0.05" or "5%". */
function fee(env: Env, name: string, fallback: number): number {
  const raw = (env[name] ?? '').trim();
  if (raw === '') return fallback;
  const match = /^(\d+(?:\.\d+)?)(%?)$/.exec(raw);
  const value = match ? Number(match[1]) / (match[2] ? 100 : 1) : NaN;
  if (!(value >= 0 && value < 1)) throw new ConfigError(`${name} must be a fee such as 0.05 or 5%, got "${raw}"`);
  return value;
}

/**
 * How long holding a payment for a failing default pays, by expected value: holding gains
 * (fallbackFee - defaultFee) of the amount when default comes back, and risks the whole
 * (1 - defaultFee) if the payment is never settled. Taking that risk as spread evenly over the
 * settlement budget (hazard 1/maxSettleMs), holding for t costs about t/maxSettleMs x (1 - defaultFee),
 * so it pays up to t = maxSettleMs x (fallbackFee - defaultFee) / (1 - defaultFee).
 */
export function expectedValueHoldMs(defaultFee: number, fallbackFee: number, maxSettleMs: number): number {
  return Math.max(0, Math.round((maxSettleMs * (fallbackFee - defaultFee)) / (1 - defaultFee)));
}

function powerOfTwo(env: Env, name: string, fallback: number, min: number, max: number): number {
  const value = integer(env, name, fallback, min, max);
  if ((value & (value - 1)) !== 0) throw new ConfigError(`${name} must be a power of two, got ${value}`);
  return value;
}

export function loadConfig(env: Env = process.env): GatewayConfig {
  const socketPath = (env.SOCKET_PATH ?? '').trim() || null;
  const port = integer(env, 'PORT', 9999, 0, 65535);
  const config: GatewayConfig = {
    port,
    hostname: (env.HOST ?? '').trim() || '0.0.0.0',
    socketPath,
    defaultProcessorUrl: httpUrl(env, 'DEFAULT_PROCESSOR_URL', 'http://payment-processor-default:8080'),
    fallbackProcessorUrl: httpUrl(env, 'FALLBACK_PROCESSOR_URL', 'http://payment-processor-fallback:8080'),
    paymentWorkers: integer(env, 'PAYMENT_WORKERS', 2, 1, 16),
    queueCapacity: powerOfTwo(env, 'QUEUE_CAPACITY', 65536, 2, 1 << 24),
    ledgerCapacity: integer(env, 'LEDGER_CAPACITY', 1_000_000, 1, 64_000_000),
    processorTimeoutMs: integer(env, 'PROCESSOR_TIMEOUT_MS', 6000, 10, 600_000),
    processorClient: choice(env, 'PROCESSOR_CLIENT', ['raw', 'undici'] as const, 'raw'),
    processorConcurrency: integer(env, 'PROCESSOR_CONCURRENCY', 700, 1, 100_000),
    maxInflightPerProcessor: 0,
    healthIntervalMs: integer(env, 'HEALTH_INTERVAL_MS', 5050, 100, 600_000),
    healthPoll: boolean(env, 'HEALTH_POLL', true),
    peers: peerList(env, 'PEERS'),
    instanceIndex: 0,
    instances: 1,
    redisUrl: redisUrl(env),
    redisTimeoutMs: integer(env, 'REDIS_TIMEOUT_MS', 500, 10, 60_000),
    redisWaitReplicas: integer(env, 'REDIS_WAIT_REPLICAS', 0, 0, 16),
    redisWaitTimeoutMs: integer(env, 'REDIS_WAIT_TIMEOUT_MS', 200, 1, 60_000),
    redisHorizonMs: integer(env, 'REDIS_HORIZON_MS', 600_000, 1000, 365 * 86_400_000),
    defaultFee: fee(env, 'DEFAULT_FEE', 0.05),
    fallbackFee: fee(env, 'FALLBACK_FEE', 0.15),
    maxSettleMs: integer(env, 'MAX_SETTLE_MS', 60_000, 1, 86_400_000),
    maxHoldMs: 0,
    auditLagMs: integer(env, 'AUDIT_LAG_MS', 1500, 0, 600_000),
    datingCoverMs: integer(env, 'DATING_COVER_MS', 0, 0, 600_000),
    latencyThresholdMs: integer(env, 'LATENCY_THRESHOLD_MS', 200, 1, 600_000),
    breakerFailureThreshold: integer(env, 'BREAKER_FAILURE_THRESHOLD', 3, 1, 1000),
    probeIntervalMs: integer(env, 'PROBE_INTERVAL_MS', 250, 10, 60_000),
    retryBaseMs: integer(env, 'RETRY_BASE_MS', 50, 1, 60_000),
    retryMaxMs: integer(env, 'RETRY_MAX_MS', 2000, 1, 600_000),
    doubtReleaseMs: integer(env, 'DOUBT_RELEASE_MS', 15_000, 0, 86_400_000),
    maxBodyBytes: integer(env, 'MAX_BODY_BYTES', 4096, 64, 1 << 20),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 600_000),
    journalDir: journalDir(env, socketPath, port),
    journalFsyncMs: integer(env, 'JOURNAL_FSYNC_MS', 0, 0, 60_000),
  };
  if (config.redisUrl !== null && config.peers.length > 0)
    throw new ConfigError('REDIS_URL and PEERS exclude each other: on Redis, hosts share state there, not over peers');
  // On Redis any host accepts any id (SET NX decides); FLEET_SIZE only keeps requestedAts unique per host.
  const instances = config.redisUrl === null ? config.peers.length + 1 : integer(env, 'FLEET_SIZE', 1, 1, 1024);
  config.instances = instances;
  config.instanceIndex = integer(env, 'INSTANCE_INDEX', 0, 0, instances - 1);
  // On Redis the stream is the durable record: the file journal would replay payments another host may hold.
  if (config.redisUrl !== null) config.journalDir = null;
  config.maxInflightPerProcessor = integer(env, 'MAX_INFLIGHT_PER_PROCESSOR', Math.max(1, Math.floor(config.processorConcurrency / instances)), 1, 100_000);
  config.maxHoldMs = integer(env, 'MAX_HOLD_MS', expectedValueHoldMs(config.defaultFee, config.fallbackFee, config.maxSettleMs), 0, 86_400_000);
  if (config.fallbackFee < config.defaultFee) {
    throw new ConfigError(`FALLBACK_FEE (${config.fallbackFee}) must not be below DEFAULT_FEE (${config.defaultFee}): default is the cheaper processor`);
  }
  if (config.retryMaxMs < config.retryBaseMs) {
    throw new ConfigError(`RETRY_MAX_MS (${config.retryMaxMs}) must not be below RETRY_BASE_MS (${config.retryBaseMs})`);
  }
  return config;
}
