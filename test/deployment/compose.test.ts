import { describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  composeModel,
  containerFleetHaproxy,
  generatedFiles,
  renderHaproxy,
  renderNginx,
  toYaml,
  CONTAINER_HAPROXY,
  CONTAINER_NGINX,
  FLEET_COMPOSE,
} from '../../deploy/render.ts';
import { BUDGET, fleet, fleetGateways, totalLimits, topology } from '../../deploy/topology.ts';
import { findBinary, parseStackArgs } from '../../tools/stack.ts';

/**
 * The container deployment as the contract wants it, read from the committed docker-compose.yml
 * (parsed with Bun.YAML), and the generated files in step with deploy/topology.ts.
 */
const ROOT = resolve(import.meta.dir, '../..');
const read = (path: string) => Bun.file(resolve(ROOT, path)).text();

/** Docker's memory units ("160MB", "160m", "1g", ...) in MB of 1024 × 1024 bytes. */
function megabytes(value: unknown): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(String(value).trim());
  if (!match) throw new Error(`not a memory size: ${value}`);
  const n = Number(match[1]);
  const unit = match[2]!.toLowerCase();
  return unit === 'g' ? n * 1024 : unit === 'm' ? n : unit === 'k' ? n / 1024 : n / 1024 / 1024;
}

async function compose(): Promise<any> {
  return Bun.YAML.parse(await read('docker-compose.yml'));
}

describe('generated files', () => {
  test('every generated file is committed as deploy/generate.ts would write it', async () => {
    for (const { path, content } of generatedFiles()) {
      const committed = await Bun.file(resolve(ROOT, path))
        .text()
        .catch(() => null);
      expect({ path, upToDate: committed === content }).toEqual({ path, upToDate: true });
    }
  });

  test('docker-compose.yml parses to exactly the model of deploy/topology.ts', async () => {
    expect(await compose()).toEqual(composeModel());
  });

  test('the YAML writer keeps strings strings', () => {
    const value = {
      a: ['9999:9999', '0.65', 'true', 'null', '', 'x: y', '#c', "it's", 'multi\nline'],
      b: { 'odd key': 1, n: 2.5, t: true, empty: {}, none: [] },
      list: [{ k: 'v', w: ['x'] }],
    };
    expect(Bun.YAML.parse(toYaml(value))).toEqual(value);
  });
});

describe('docker-compose.yml follows the contract', () => {
  test('a load balancer and two gateway instances, nothing else', async () => {
    const { services } = await compose();
    expect(Object.keys(services).sort()).toEqual(['gateway-1', 'gateway-2', 'load-balancer']);
  });

  test('resource limits on every service, 1.5 CPU and 350 MB at most in total', async () => {
    const { services } = await compose();
    let cpus = 0;
    let memory = 0;
    for (const [name, service] of Object.entries<any>(services)) {
      const limits = service.deploy?.resources?.limits;
      expect({ name, cpus: typeof limits?.cpus, memory: typeof limits?.memory }).toEqual({ name, cpus: 'string', memory: 'string' });
      cpus += Number(limits.cpus);
      memory += megabytes(limits.memory);
    }
    expect(Math.round(cpus * 100)).toBeLessThanOrEqual(150);
    expect(memory).toBeLessThanOrEqual(350);
    expect(totalLimits().cpus).toBeLessThanOrEqual(BUDGET.cpus);
    expect(totalLimits().memoryMb).toBeLessThanOrEqual(BUDGET.memoryMb);
  });

  test('no host networking, no privileged mode, no replicas', async () => {
    const { services } = await compose();
    for (const [name, service] of Object.entries<any>(services)) {
      expect({ name, network_mode: service.network_mode, privileged: service.privileged, replicas: service.deploy?.replicas, scale: service.scale }).toEqual({
        name,
        network_mode: undefined,
        privileged: undefined,
        replicas: undefined,
        scale: undefined,
      });
    }
  });

  test('bridge networks, and the external payment-processor network for the gateways', async () => {
    const { services, networks } = await compose();
    expect(networks['payment-processor']).toEqual({ external: true });
    for (const [name, network] of Object.entries<any>(networks)) {
      if (!network.external) expect({ name, driver: network.driver ?? 'bridge' }).toEqual({ name, driver: 'bridge' });
    }
    for (const name of ['gateway-1', 'gateway-2']) {
      expect(services[name].networks).toContain('payment-processor');
      expect(services[name].environment.DEFAULT_PROCESSOR_URL).toBe('http://payment-processor-default:8080');
      expect(services[name].environment.FALLBACK_PROCESSOR_URL).toBe('http://payment-processor-fallback:8080');
    }
    for (const service of Object.values<any>(services)) {
      for (const network of service.networks ?? []) expect(Object.keys(networks)).toContain(network);
    }
  });

  test('the load balancer publishes port 9999, and only it publishes anything', async () => {
    const { services } = await compose();
    expect(services['load-balancer'].ports).toEqual(['9999:9999']);
    expect(services['gateway-1'].ports).toBeUndefined();
    expect(services['gateway-2'].ports).toBeUndefined();
  });

  test('the gateways are built from the root Dockerfile: non-root, running bun src/gateway/main.ts', async () => {
    const { services } = await compose();
    for (const name of ['gateway-1', 'gateway-2']) {
      expect(services[name].build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
      expect(services[name].image).toBe(topology.container.image);
    }
    const dockerfile = await read('Dockerfile');
    const lastStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
    const user = /^USER\s+(\S+)/m.exec(lastStage)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user!);
    expect(lastStage).toMatch(/^CMD \["bun", "src\/gateway\/main\.ts"\]$/m);
    expect(await Bun.file(resolve(ROOT, '.dockerignore')).exists()).toBe(true);
  });

  test('each gateway listens on a socket in the volume the load balancer mounts, and names the others as peers', async () => {
    const { services, volumes } = await compose();
    const lb = services['load-balancer'];
    const mountOf = (service: any, volume: string) => (service.volumes as string[]).find((v) => v.startsWith(`${volume}:`))?.split(':')[1];
    const sockets: Record<string, string> = {};
    for (const name of ['gateway-1', 'gateway-2']) {
      const env = services[name].environment;
      const volume = Object.keys(volumes).find((v) => env.SOCKET_PATH.startsWith(`${mountOf(services[name], v)}/`));
      expect(volume).toBeDefined();
      expect(mountOf(lb, volume!)).toBe(mountOf(services[name], volume!));
      sockets[name] = env.SOCKET_PATH;
      // Its journal on a volume of its own, which survives a restart of the container.
      const journal = Object.keys(volumes).find((v) => env.JOURNAL_DIR === mountOf(services[name], v));
      expect(journal).toBeDefined();
      const holders = Object.entries<any>(services).filter(([, other]) => mountOf(other, journal!) !== undefined);
      expect(holders.map(([holder]) => holder)).toEqual([name]);
    }
    expect(services['gateway-1'].environment.PEERS).toBe(`unix:${sockets['gateway-2']}`);
    expect(services['gateway-2'].environment.PEERS).toBe(`unix:${sockets['gateway-1']}`);
    // One poller of the rate-limited service-health, the other copies its reports.
    expect([services['gateway-1'].environment.HEALTH_POLL, services['gateway-2'].environment.HEALTH_POLL].sort()).toEqual(['false', 'true']);
    // The configuration the load balancer mounts sends traffic to those sockets.
    const config = (lb.volumes as string[]).find((v) => v.startsWith('./deploy/'))!.split(':')[0]!;
    const text = await read(config);
    for (const socket of Object.values(sockets)) expect(text).toContain(socket);
  });
});

describe('load balancer configurations', () => {
  test('HAProxy: valid, one thread, keep-alive and reuse to the backends, health-checked, /internal denied, no logging', async () => {
    const text = await read(CONTAINER_HAPROXY.path);
    for (const line of [
      'nbthread 1',
      'option http-keep-alive',
      'http-reuse always',
      'option httpchk',
      'http-check send meth GET uri /health',
      'http-request deny deny_status 403 if internal',
    ]) {
      expect(text).toContain(line);
    }
    expect(text).not.toMatch(/^\s*log\s/m);
  });

  // CI installs both (.ci/system-packages); without them these show as skipped, not as passed.
  test.skipIf(findBinary('haproxy') === null)('HAProxy accepts the committed configuration (haproxy -c)', () => {
    const check = Bun.spawnSync([findBinary('haproxy')!, '-c', '-f', resolve(ROOT, CONTAINER_HAPROXY.path)], { stdout: 'pipe', stderr: 'pipe' });
    expect({ exit: check.exitCode, output: check.stderr.toString() }).toMatchObject({ exit: 0 });
  });

  test('nginx: valid, one worker, keep-alive upstream over the sockets, /internal denied, no access log', async () => {
    const text = await read(CONTAINER_NGINX.path);
    for (const line of [
      'worker_processes 1;',
      'keepalive 64;',
      'proxy_http_version 1.1;',
      'proxy_set_header Connection "";',
      'access_log off;',
      'location /internal {',
    ]) {
      expect(text).toContain(line);
    }
  });

  test.skipIf(findBinary('nginx') === null)('nginx accepts the configuration (nginx -t)', async () => {
    const nginx = findBinary('nginx')!;
    // The committed file writes to /tmp; check the same rendering with a private directory.
    const dir = mkdtempSync(join(tmpdir(), 'nginx-check-'));
    try {
      const config = join(dir, 'nginx.conf');
      await Bun.write(config, renderNginx({ socketDir: topology.container.socketDir, listen: String(topology.publicPort), runDir: dir }));
      const check = Bun.spawnSync([nginx, '-t', '-q', '-e', 'stderr', '-p', `${dir}/`, '-c', config], { stdout: 'pipe', stderr: 'pipe' });
      expect({ exit: check.exitCode, output: check.stderr.toString() }).toMatchObject({ exit: 0 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('both forward exactly the public routes to every gateway', () => {
    const haproxy = renderHaproxy({ socketDir: '/s', listen: ':1' });
    const nginx = renderNginx({ socketDir: '/s', listen: '1', runDir: '/r' });
    for (const gateway of topology.gateways) {
      expect(haproxy).toContain(`server ${gateway.name} unix@/s/${gateway.socket}`);
      expect(nginx).toContain(`server unix:/s/${gateway.socket}`);
    }
    expect(haproxy).toContain(`acl public_route path ${topology.publicRoutes.join(' ')}`);
    for (const route of topology.publicRoutes) expect(nginx).toContain(`location = ${route} {\n            proxy_pass http://gateways${route};`);
  });
});

describe('tools/stack.ts options', () => {
  test('defaults and overrides', () => {
    const defaults = parseStackArgs([]);
    expect(defaults).toMatchObject({ lb: topology.loadBalancer.kind, port: 9999, host: '127.0.0.1', cgroups: true });
    expect(parseStackArgs(['--lb', 'nginx', '--port=8080', '--no-cgroups', '--run-dir', '/tmp/x'])).toMatchObject({
      lb: 'nginx',
      port: 8080,
      cgroups: false,
      runDir: '/tmp/x',
    });
    expect(() => parseStackArgs(['--lb', 'traefik'])).toThrow(/haproxy or nginx/);
    expect(() => parseStackArgs(['--port', '0'])).toThrow(/port/);
    expect(() => parseStackArgs(['--bogus'])).toThrow(/unknown option/);
  });

  test('--redis: the fleet shape, --hosts and --redis-port only with it', () => {
    expect(parseStackArgs([]).redis).toBeNull();
    expect(parseStackArgs(['--redis']).redis).toEqual({ hosts: fleet.hosts, port: 6380 });
    expect(parseStackArgs(['--redis', '--hosts', '5', '--redis-port', '6391']).redis).toEqual({ hosts: 5, port: 6391 });
    expect(() => parseStackArgs(['--hosts', '3'])).toThrow(/with --redis/);
    expect(() => parseStackArgs(['--redis', '--hosts', '0'])).toThrow(/--hosts/);
  });
});

describe('the fleet shape on Redis (docker-compose.redis.yml)', () => {
  test('a Redis service with persistence and limits of its own; each host on it with its own index; no owner routing', async () => {
    const compose = Bun.YAML.parse(await read(FLEET_COMPOSE)) as any;
    const redis = compose.services[fleet.redis.name];
    expect(redis.command.join(' ')).toContain('--appendonly yes --appendfsync everysec');
    expect(redis.command.join(' ')).toContain('--maxmemory-policy noeviction');
    expect(redis.deploy.resources.limits.memory).toBe(`${fleet.redis.limits.memoryMb}MB`);
    const hosts = fleetGateways(fleet.hosts);
    expect(hosts.map((host) => compose.services[host.name].environment.INSTANCE_INDEX)).toEqual(hosts.map((_, index) => String(index)));
    for (const host of hosts) {
      expect(compose.services[host.name].environment).toMatchObject({
        REDIS_URL: `redis://${fleet.redis.name}:${fleet.redis.port}`,
        FLEET_SIZE: String(fleet.hosts),
      });
      expect(compose.services[host.name].environment.PEERS).toBeUndefined();
    }
    const haproxy = containerFleetHaproxy();
    for (const host of hosts) expect(haproxy).toContain(`server ${host.name} unix@`);
    expect(haproxy).not.toContain('use-server');
  });
});
