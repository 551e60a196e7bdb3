/**
 * The deployment, in one place: which services run, their names, sockets, ports, CPU and memory
 * limits, and the environment of each gateway instance. Everything else is derived from this file:
 * `deploy/haproxy.cfg`, `deploy/nginx.conf` and `docker-compose.yml` (by `bun deploy/generate.ts`,
 * see render.ts), and the native stack of `tools/stack.ts` (same renderers, other paths).
 *
 * The budget of the contract is 1.5 CPU and 350 MB for everything, load balancer included.
 */

export type LoadBalancerKind = 'haproxy' | 'nginx';

export interface Limits {
  /** CPUs (Docker `cpus`; natively cpu.cfs_quota_us / cpu.cfs_period_us). */
  cpus: number;
  /** Memory in MB as Docker reads "160MB" (MiB: 1024 × 1024 bytes). */
  memoryMb: number;
}

export interface GatewayInstance {
  /** Service name in docker-compose.yml, process label natively. */
  name: string;
  /** File name of the unix socket it listens on, inside the socket directory. */
  socket: string;
  /** Exactly one instance polls the processors' rate-limited service-health; the others copy it. */
  healthPoll: boolean;
  limits: Limits;
}

export const BUDGET: Limits = { cpus: 1.5, memoryMb: 350 };

/** Bytes in one "MB" of a limit (Docker's units are binary). */
export const MB = 1024 * 1024;

export const topology = {
  /** The port the deployment is reached on. */
  publicPort: 9999,

  loadBalancer: {
    name: 'load-balancer',
    /** The default load balancer, chosen by measured p99 (deploy/README.md). */
    kind: 'haproxy' as LoadBalancerKind,
    limits: { cpus: 0.2, memoryMb: 30 } satisfies Limits,
    images: { haproxy: 'haproxy:2.8-alpine', nginx: 'nginx:1.26-alpine' } satisfies Record<LoadBalancerKind, string>,
    /** Most client connections the load balancer holds (the contract's load is ~600 users). */
    maxConnections: 4096,
    /** Idle connections kept open to each gateway (HTTP keep-alive over the unix socket). */
    keepAlivePerBackend: 64,
    /** Active health check of each gateway: GET this path, every `intervalMs`. */
    healthCheck: { path: '/health', intervalMs: 1000, fall: 2, rise: 2 },
  },

  gateways: [
    { name: 'gateway-1', socket: 'gateway-1.sock', healthPoll: true, limits: { cpus: 0.65, memoryMb: 160 } },
    { name: 'gateway-2', socket: 'gateway-2.sock', healthPoll: false, limits: { cpus: 0.65, memoryMb: 160 } },
  ] satisfies GatewayInstance[],

  /**
   * Routes the load balancer forwards (exact paths; the query string is free). Anything else is
   * answered by the load balancer itself: /internal/* with 403, the rest with 404. An allow-list
   * rather than a deny-list, so that no spelling of a path (`/payments/../internal/totals`,
   * `//internal/totals`, percent-encoding) reaches an internal route.
   */
  publicRoutes: ['/payments', '/payments-summary', '/purge-payments', '/health'],
  internalPrefix: '/internal',

  /** Where the gateways' sockets live inside the containers (a volume shared with the LB). */
  container: {
    socketDir: '/run/gateway',
    /**
     * Each instance's journal (durable acceptance, replayed at start) inside its container, on a
     * named volume of its own so that a restarted container finds it. On disk, not tmpfs: a
     * tmpfs would be charged to the container's memory limit.
     */
    journalDir: '/var/lib/gateway/journal',
    /** The gateway image runs as this uid:gid; the LB container runs as it too, to connect. */
    uid: 1000,
    gid: 1000,
    image: 'payment-gateway:latest',
    socketVolume: 'gateway-sockets',
    /** The contract's network of the payment processors, created outside this project. */
    processorNetwork: 'payment-processor',
    /** A bridge network of our own, for the published port of the load balancer. */
    frontNetwork: 'front',
  },

  processors: {
    default: 'http://payment-processor-default:8080',
    fallback: 'http://payment-processor-fallback:8080',
  },

  /** Gateway settings common to every instance (the rest are the gateway's defaults). */
  gatewayEnv: {
    PAYMENT_WORKERS: '2',
    SHUTDOWN_GRACE_MS: '10000',
  } as Record<string, string>,
} as const;

/**
 * The fleet shape (issue 15, REDIS_URL): gateway hosts that share one Redis instead of talking to
 * each other. Any host accepts any payment (Redis decides duplicates), so the load balancer only
 * spreads requests. Each host would be a machine of its own; here each gets the limits of one
 * embedded instance, and Redis its own (appendonly, fsync every second: see the README).
 */
export const fleet = {
  hosts: 3,
  gatewayLimits: { cpus: 0.65, memoryMb: 160 } satisfies Limits,
  redis: { name: 'redis', image: 'redis:7.0-alpine', port: 6379, limits: { cpus: 0.5, memoryMb: 256 } satisfies Limits, dataDir: '/data' },
} as const;

/** The gateway hosts of a fleet of `hosts`. */
export function fleetGateways(hosts: number): GatewayInstance[] {
  return Array.from({ length: hosts }, (_, index) => ({
    name: `gateway-${index + 1}`,
    socket: `gateway-${index + 1}.sock`,
    healthPoll: true,
    limits: fleet.gatewayLimits,
  }));
}

/** The environment of one fleet host: its socket, the fleet's Redis, its place in the fleet; no journal (Redis is the record). */
export function fleetGatewayEnv(
  instance: GatewayInstance,
  gateways: readonly GatewayInstance[],
  socketDir: string,
  redisUrl: string,
  processors: ProcessorUrls = topology.processors,
): Record<string, string> {
  return {
    ...topology.gatewayEnv,
    SOCKET_PATH: socketPath(instance, socketDir),
    JOURNAL_DIR: 'off',
    REDIS_URL: redisUrl,
    FLEET_SIZE: String(gateways.length),
    INSTANCE_INDEX: String(gateways.findIndex((other) => other.name === instance.name)),
    DEFAULT_PROCESSOR_URL: processors.default,
    FALLBACK_PROCESSOR_URL: processors.fallback,
  };
}

/** Every service of a fleet of `hosts` with its limits, load balancer first. */
export function fleetLimits(hosts: number): { name: string; limits: Limits }[] {
  return [
    { name: topology.loadBalancer.name, limits: topology.loadBalancer.limits },
    { name: fleet.redis.name, limits: fleet.redis.limits },
    ...fleetGateways(hosts).map(({ name, limits }) => ({ name, limits })),
  ];
}

export interface ProcessorUrls {
  default: string;
  fallback: string;
}

export function joinPath(dir: string, file: string): string {
  return dir.endsWith('/') ? `${dir}${file}` : `${dir}/${file}`;
}

/** The socket path of one instance under `socketDir`. */
export function socketPath(instance: GatewayInstance, socketDir: string): string {
  return joinPath(socketDir, instance.socket);
}

/** The named volume holding one instance's journal in the container deployment. */
export function journalVolume(instance: GatewayInstance): string {
  return `${instance.name}-journal`;
}

/**
 * The environment of one gateway instance: its socket, its journal directory, the other
 * instances as PEERS in deployment order and its own place in it (so its summary covers the whole
 * deployment, and each correlationId has one owner), and whether it polls service-health.
 */
export function gatewayEnv(
  instance: GatewayInstance,
  socketDir: string,
  journalDir: string,
  processors: ProcessorUrls = topology.processors,
): Record<string, string> {
  const peers = topology.gateways.filter((other) => other.name !== instance.name).map((other) => `unix:${socketPath(other, socketDir)}`);
  return {
    ...topology.gatewayEnv,
    SOCKET_PATH: socketPath(instance, socketDir),
    JOURNAL_DIR: journalDir,
    PEERS: peers.join(','),
    INSTANCE_INDEX: String(topology.gateways.findIndex((other) => other.name === instance.name)),
    HEALTH_POLL: String(instance.healthPoll),
    DEFAULT_PROCESSOR_URL: processors.default,
    FALLBACK_PROCESSOR_URL: processors.fallback,
  };
}

/** Every service with its limits, load balancer first. */
export function allLimits(): { name: string; limits: Limits }[] {
  return [{ name: topology.loadBalancer.name, limits: topology.loadBalancer.limits }, ...topology.gateways.map(({ name, limits }) => ({ name, limits }))];
}

export function totalLimits(): Limits {
  // Sum in hundredths of a CPU so 0.2 + 0.65 + 0.65 is exactly 1.5.
  const centiCpus = allLimits().reduce((sum, { limits }) => sum + Math.round(limits.cpus * 100), 0);
  const memoryMb = allLimits().reduce((sum, { limits }) => sum + limits.memoryMb, 0);
  return { cpus: centiCpus / 100, memoryMb };
}
