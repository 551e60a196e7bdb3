/**
 * The latency floors of the load test: what the generator measures against servers that do no
 * work, on this machine, to compare the deployment's figures with (same session).
 *
 *   bun bench/floor/floor.ts direct [PORT]   nginx answering 202 on PORT (default 9999)
 *   bun bench/floor/floor.ts lb [PORT]       the deployment's shape: HAProxy with the deployment's
 *                                            own configuration (rendered from deploy/topology.ts)
 *                                            on PORT, in front of nginx answering 202 on every
 *                                            gateway socket (200 on /health, for the health checks)
 *
 *   then: npm run loadtest -- --url http://127.0.0.1:PORT --no-admin --schedule none
 *
 * nginx: one worker, keep-alive, no logging. Stops on SIGINT/SIGTERM and removes its temporary
 * directory.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Subprocess } from 'bun';
import { renderHaproxy } from '../../deploy/render.ts';
import { socketPath, topology } from '../../deploy/topology.ts';

const mode = process.argv[2];
const port = Number(process.argv[3] ?? 9999);
if ((mode !== 'direct' && mode !== 'lb') || !Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('usage: bun bench/floor/floor.ts direct|lb [PORT]');
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), 'payment-floor-'));
const listens =
  mode === 'direct' ? `    listen 127.0.0.1:${port};` : topology.gateways.map((gateway) => `    listen unix:${socketPath(gateway, dir)};`).join('\n');
writeFileSync(
  join(dir, 'nginx.conf'),
  `worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  client_body_temp_path ${dir};
  server {
${listens}
    location = /health { return 200 '{"status":"healthy"}'; }
    location / { return 202 '{"message":"payment accepted"}'; }
  }
}
`,
);
const children: Subprocess[] = [Bun.spawn(['nginx', '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdout: 'inherit', stderr: 'inherit' })];
if (mode === 'lb') {
  writeFileSync(join(dir, 'haproxy.cfg'), renderHaproxy({ socketDir: dir, listen: `127.0.0.1:${port}` }));
  await Bun.sleep(300);
  children.push(Bun.spawn(['haproxy', '-f', join(dir, 'haproxy.cfg')], { stdout: 'inherit', stderr: 'inherit' }));
}

let stopping = false;
function stop(code: number): void {
  if (stopping) return;
  stopping = true;
  for (const child of children) child.kill();
  Promise.all(children.map((child) => child.exited)).finally(() => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  });
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));
for (const child of children) void child.exited.then((code) => stop(code === 0 ? 1 : code));

for (let attempt = 0; ; attempt++) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/payments`, { method: 'POST', body: '{}' });
    if (response.status === 202) break;
  } catch {
    // not listening yet
  }
  if (attempt === 50) {
    console.error(`floor: no 202 on port ${port} within 5 s`);
    stop(1);
  }
  await Bun.sleep(100);
}
const shape = mode === 'lb' ? `HAProxy -> nginx 202 over ${topology.gateways.length} unix sockets` : 'nginx 202';
console.log(`floor: ready on http://127.0.0.1:${port} (${shape})`);
