/**
 * --compare: the same load alternately against two targets in one session (for example the load
 * balancer's floor and the stack), so that both see the same machine state; latency only (as with
 * --no-admin). Rounds go A B, B A, A B, ... so a drift over the session weighs on both alike.
 * Each target's p99 is over all its rounds' requests (histograms merged), beside each round's.
 */
import * as hdr from 'hdr-histogram-js';
import type { Options } from './options.ts';
import type { Progress } from './progress.ts';
import type { LoadTestResult } from './result.ts';
import { runLoadTest } from './run.ts';

export interface CompareTarget {
  url: string;
  roundP99sMs: number[];
  /** p99 over every request of every round. */
  p99Ms: number;
  requests: number;
}

export interface CompareResult {
  tool: 'loadtest-compare';
  rounds: number;
  a: CompareTarget;
  b: CompareTarget;
  /** b.p99Ms / a.p99Ms */
  ratio: number;
  runs: LoadTestResult[];
}

export async function runCompare(o: Options, progress: Progress): Promise<CompareResult> {
  if (o.compareUrl === null) throw new Error('runCompare needs --compare');
  const urls = [o.url, o.compareUrl] as const;
  const merged = urls.map(() => hdr.build({ bitBucketSize: 32, autoResize: true, numberOfSignificantValueDigits: 3, useWebAssembly: false }));
  const roundP99s: number[][] = [[], []];
  const runs: LoadTestResult[] = [];
  for (let round = 0; round < o.rounds; round++) {
    const order = round % 2 === 0 ? [0, 1] : [1, 0];
    for (const index of order) {
      progress.log(`compare: round ${round + 1}/${o.rounds}, ${index === 0 ? 'A' : 'B'} ${urls[index]}`);
      const result = await runLoadTest({ ...o, url: urls[index] ?? o.url, admin: false, settlementSample: 0 }, progress);
      runs.push(result);
      merged[index]?.add(hdr.decodeFromCompressedBase64(result.histogram.hdrBase64, 32, false));
      roundP99s[index]?.push(result.latency.all.p99Ms ?? Number.NaN);
    }
  }
  const target = (index: 0 | 1): CompareTarget => {
    const h = merged[index];
    return {
      url: urls[index],
      roundP99sMs: roundP99s[index] ?? [],
      p99Ms: h !== undefined && h.totalCount > 0 ? h.getValueAtPercentile(99) / 1000 : Number.NaN,
      requests: h?.totalCount ?? 0,
    };
  };
  const a = target(0);
  const b = target(1);
  return { tool: 'loadtest-compare', rounds: o.rounds, a, b, ratio: b.p99Ms / a.p99Ms, runs };
}

export function renderCompare(c: CompareResult, file: string | null): string {
  const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(3)} ms` : '-');
  const line = (name: string, t: CompareTarget) =>
    `${name} ${t.url}: p99 ${ms(t.p99Ms)} over ${t.requests} requests (rounds: ${t.roundP99sMs.map(ms).join(', ')})`;
  return [
    '='.repeat(78),
    `COMPARE (${c.rounds} rounds each, alternating)`,
    line('A', c.a),
    line('B', c.b),
    `ratio B/A of p99: ${Number.isFinite(c.ratio) ? c.ratio.toFixed(3) : '-'}`,
    ...(file !== null ? [`result ${file}`] : []),
    '='.repeat(78),
    '',
  ].join('\n');
}
