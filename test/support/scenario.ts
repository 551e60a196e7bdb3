import { expect } from 'bun:test';
import type { GatewayProcess, Summary } from './gateway.ts';
import type { Simulator } from './simulator.ts';

/** Sends `count` payments of `amount`, `concurrency` at a time; returns the ids that got a 2xx. */
export async function sendPayments(gateway: GatewayProcess, count: number, amount = '19.90', concurrency = 50): Promise<string[]> {
  const accepted: string[] = [];
  let next = 0;
  const lane = async () => {
    while (next < count) {
      next++;
      const id = crypto.randomUUID();
      const response = await gateway.pay(id, amount);
      await response.arrayBuffer();
      if (response.status >= 200 && response.status < 300) accepted.push(id);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return accepted;
}

/** Sends payments at a steady pace for `durationMs`; returns accepted ids. */
export async function streamPayments(gateway: GatewayProcess, durationMs: number, perSecond: number, amount = '19.90'): Promise<string[]> {
  const accepted: string[] = [];
  const end = Date.now() + durationMs;
  const inflight: Promise<void>[] = [];
  while (Date.now() < end) {
    const id = crypto.randomUUID();
    inflight.push(
      gateway.pay(id, amount).then(async (response) => {
        await response.arrayBuffer();
        if (response.ok) accepted.push(id);
      }),
    );
    await Bun.sleep(1000 / perSecond);
  }
  await Promise.all(inflight);
  return accepted;
}

type Windows = [string | undefined, string | undefined][];

async function compareWindow(gateway: GatewayProcess, simulator: Simulator, from: string | undefined, to: string | undefined): Promise<Summary> {
  const [ours, atDefault, atFallback] = await Promise.all([
    gateway.summary(from, to),
    simulator.default.summary(from, to),
    simulator.fallback.summary(from, to),
  ]);
  const label = `window ${from ?? '-∞'} .. ${to ?? '+∞'}`;
  expect({ label, default: ours.default, fallback: ours.fallback }).toEqual({
    label,
    default: { totalRequests: atDefault.totalRequests, totalAmount: atDefault.totalAmount },
    fallback: { totalRequests: atFallback.totalRequests, totalAmount: atFallback.totalAmount },
  });
  return ours;
}

/**
 * The gateway's summary equals each processor's admin summary, for the whole history and for
 * each given window, in counts and in exact amounts.
 */
export async function expectConsistent(gateway: GatewayProcess, simulator: Simulator, windows: Windows = []): Promise<Summary> {
  const whole = await compareWindow(gateway, simulator, undefined, undefined);
  for (const [from, to] of windows) await compareWindow(gateway, simulator, from, to);
  return whole;
}

/** Every accepted payment is held by exactly one processor. */
export async function expectEachSettledOnce(simulator: Simulator, accepted: string[]): Promise<{ onDefault: number; onFallback: number }> {
  let onDefault = 0;
  let onFallback = 0;
  const problems: string[] = [];
  const check = async (id: string) => {
    const [d, f] = await Promise.all([simulator.default.getPayment(id), simulator.fallback.getPayment(id)]);
    if (d && f) problems.push(`${id} paid twice`);
    else if (!d && !f) problems.push(`${id} lost`);
    else if (d) onDefault++;
    else onFallback++;
  };
  for (let i = 0; i < accepted.length; i += 100) await Promise.all(accepted.slice(i, i + 100).map(check));
  expect(problems.slice(0, 10)).toEqual([]);
  return { onDefault, onFallback };
}

export const iso = (ms: number) => new Date(ms).toISOString();

/** What the contract's auditor does mid-run: compare counts over [now-15s, now-lagMs]. */
export async function audit(gateway: GatewayProcess, simulator: Simulator, lagMs = 1500): Promise<void> {
  const now = Date.now();
  await compareWindow(gateway, simulator, iso(now - 15_000), iso(now - lagMs));
}

/** Share of settled payments on default, for reports. */
export function defaultShare(summary: Summary): string {
  const total = summary.default.totalRequests + summary.fallback.totalRequests;
  return total === 0 ? 'n/a' : `${((100 * summary.default.totalRequests) / total).toFixed(1)}%`;
}

/** Time from `since` until the gateway holds nothing unsettled. */
export async function drainTime(gateway: GatewayProcess, since: number): Promise<number> {
  await gateway.settled(60_000);
  return Date.now() - since;
}

/**
 * Between scenarios: both processors working and fast again, calls the gateway gave up on given
 * `lingerMs` (the longest delay a scenario set) to land, then everything they recorded purged.
 */
export async function restoreProcessors(simulator: Simulator, lingerMs: number): Promise<void> {
  await Promise.all([simulator.default.setFailure(false), simulator.fallback.setFailure(false), simulator.default.setDelay(0), simulator.fallback.setDelay(0)]);
  await Bun.sleep(lingerMs);
  await Promise.all([simulator.default.purge(), simulator.fallback.purge()]);
}
