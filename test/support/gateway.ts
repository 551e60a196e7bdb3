import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnChild, type Child } from './process.ts';

/** A real gateway process (src/gateway/main.ts), configured through its environment. */
export interface GatewayProcess {
  url: string;
  child: Child;
  pay(correlationId: string, amount: number | string): Promise<Response>;
  summary(from?: string, to?: string): Promise<Summary>;
  health(): Promise<any>;
  /** Resolves when nothing is queued, held, in doubt or in flight any more. */
  settled(timeoutMs?: number): Promise<void>;
  stop(): Promise<number>;
}

export interface Summary {
  default: { totalRequests: number; totalAmount: number };
  fallback: { totalRequests: number; totalAmount: number };
}

/** The Bun entry, run from source; tests of another runtime's entry pass their own command. */
const BUN_ENTRY = [process.execPath, 'src/gateway/main.ts'];

export async function startGateway(env: Record<string, string>, command: string[] = BUN_ENTRY): Promise<GatewayProcess> {
  const port = env.PORT ?? String(freePort());
  // A fresh journal per gateway, removed when it stops, unless the test brings one (to restart on it).
  const ownJournal = env.JOURNAL_DIR === undefined ? mkdtempSync(join(tmpdir(), 'gateway-journal-')) : null;
  const journalDir = env.JOURNAL_DIR ?? ownJournal!;
  const child = spawnChild(command, { HOST: '127.0.0.1', ...env, PORT: port, JOURNAL_DIR: journalDir }, command.join(' '));
  await child.waitFor(/gateway listening on/);
  const url = `http://127.0.0.1:${port}`;
  const gateway: GatewayProcess = {
    url,
    child,
    pay: (correlationId, amount) =>
      fetch(`${url}/payments`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"correlationId":"${correlationId}","amount":${amount}}`,
      }),
    async summary(from, to) {
      const query = new URLSearchParams();
      if (from) query.set('from', from);
      if (to) query.set('to', to);
      const response = await fetch(`${url}/payments-summary?${query}`);
      if (response.status !== 200) throw new Error(`summary: HTTP ${response.status} ${await response.text()}`);
      return (await response.json()) as Summary;
    },
    async health() {
      return (await fetch(`${url}/health`)).json();
    },
    async settled(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const health = await gateway.health();
        const busy =
          health.queues.pending + health.queues.failed + health.queues.inDoubt + health.processors.default.inflight + health.processors.fallback.inflight;
        if (busy === 0) return;
        if (Date.now() > deadline) throw new Error(`not settled after ${timeoutMs} ms: ${JSON.stringify(health.queues)}`);
        await Bun.sleep(50);
      }
    },
    async stop() {
      const code = await child.stop();
      if (ownJournal) rmSync(ownJournal, { recursive: true, force: true });
      return code;
    },
  };
  return gateway;
}
