/**
 * The scenario: setup (purge, reset), ramped load with scheduled processor
 * conditions and periodic audits, settlement, final summary and score.
 */
import { GatewayApi, ProcessorAdmin, describeHttp } from './api.ts';
import { AUDIT_WINDOW_FROM_MS, Auditor, CONTRACT_AUDIT_LAG_MS, type Processors, formatInconsistency } from './auditor.ts';
import { applyCondition } from './conditions.ts';
import { OUTCOME_RESPONSE, type HttpResult, parseEndpoint } from './http-client.ts';
import { LoopMonitor } from './loop-monitor.ts';
import { Metrics } from './metrics.ts';
import { feeMicros, formatCents, formatMicros, toBps, toCents } from './money.ts';
import type { Options } from './options.ts';
import type { Progress } from './progress.ts';
import { centsToDecimal } from './request-builder.ts';
import { type LoadTestResult, type ProcessorReport, type ScheduleEvent, latencySummary, requestCounts, scoreReport, timeline } from './result.ts';
import { FINE, Schedule, describeCondition } from './schedule.ts';
import { computeScore } from './score.ts';
import { SettlementSampler } from './settlement-sampler.ts';
import { StrictAuditor, formatStrictDifference } from './strict-auditor.ts';
import { LoadGenerator } from './virtual-users.ts';

export class UnreachableError extends Error {}

const CONTROL_TIMEOUT_MS = 5_000;
const FINAL_SUMMARY_TIMEOUT_MS = 10_000;

/** The contract's final window starts this long before the load: 10 s, 60 s for the long runs. */
export function finalWindowBeforeStartMs(schedule: Options['schedule']): number {
  return schedule === 'long' ? 60_000 : 10_000;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function unreachable(r: HttpResult): boolean {
  return r.outcome !== OUTCOME_RESPONSE;
}

function fmtMs(v: number): string {
  if (!Number.isFinite(v)) return '-';
  return v >= 100 ? `${v.toFixed(0)}ms` : `${v.toFixed(2)}ms`;
}

/**
 * Payments the processors hold dated after the cutoff (within a day of it): the part of the lag
 * that dating ahead costs, told apart from payments not yet recorded. Null when not known.
 */
async function recordedAfter(processors: Processors, cutoffMs: number): Promise<number | null> {
  const from = new Date(cutoffMs + 1).toISOString();
  const to = new Date(cutoffMs + 86_400_000).toISOString();
  const [d, f] = await Promise.all([processors.default.summary(from, to), processors.fallback.summary(from, to)]);
  return d.value === null || f.value === null ? null : d.value.totalRequests + f.value.totalRequests;
}

export async function runLoadTest(o: Options, progress: Progress): Promise<LoadTestResult> {
  const warnings: string[] = [];
  const warn = (m: string): void => {
    warnings.push(m);
    progress.log(`WARNING: ${m}`);
  };

  const gatewayEndpoint = parseEndpoint(o.url);
  const gateway = new GatewayApi(o.url, CONTROL_TIMEOUT_MS);
  const processors: Processors | null = o.admin
    ? {
        default: new ProcessorAdmin('default', o.defaultUrl, o.token, CONTROL_TIMEOUT_MS),
        fallback: new ProcessorAdmin('fallback', o.fallbackUrl, o.token, CONTROL_TIMEOUT_MS),
      }
    : null;
  const closeAll = (): void => {
    gateway.close();
    processors?.default.close();
    processors?.fallback.close();
  };

  try {
    // ---- setup -----------------------------------------------------------
    const purge = await gateway.purge();
    if (unreachable(purge.http)) {
      throw new UnreachableError(`gateway unreachable at ${o.url}: ${describeHttp(purge.http)}`);
    }
    if (purge.problem !== null) warn(`gateway POST /purge-payments: ${purge.problem}`);
    if (processors !== null) {
      for (const p of [processors.default, processors.fallback]) {
        const r = await p.purge();
        if (unreachable(r.http)) {
          const url = p.name === 'default' ? o.defaultUrl : o.fallbackUrl;
          throw new UnreachableError(`${p.name} processor unreachable at ${url}: ${describeHttp(r.http)} (use --no-admin to test a bare server)`);
        }
        if (r.problem !== null) warn(`${p.name} processor POST /admin/purge-payments: ${r.problem}`);
      }
      const problems = await applyCondition(processors, FINE);
      for (const m of problems) warn(`reset: ${m}`);
      for (const p of [processors.default, processors.fallback]) {
        const r = await p.setFee(o.fees[p.name]);
        if (r.problem !== null) {
          warn(`${p.name} processor did not take fee ${o.fees[p.name] / 100}% (${r.problem}; not the simulator?): its own fee applies, the profit uses --fees`);
        }
      }
    }

    // ---- load phase ---------------------------------------------------------
    const schedule = new Schedule(o.schedule, o.seed, o.stepSec, o.durationSec);
    const auditLagMs = o.schedule === 'long' ? CONTRACT_AUDIT_LAG_MS.long : CONTRACT_AUDIT_LAG_MS.reference;
    const durationMs = o.durationSec * 1000;
    const monitor = new LoopMonitor();
    const startedAtMs = Date.now();
    const t0 = performance.now();
    const metrics = new Metrics(t0);
    const auditor = new Auditor(gateway, processors, metrics);
    const events: ScheduleEvent[] = o.admin ? [{ atSec: 0, step: 0, label: FINE.label, condition: FINE, problems: [] }] : [];
    let currentLabel = o.admin ? schedule.conditionAt(0).label : 'no admin';
    const sampler =
      processors !== null && o.settlementSample > 0
        ? new SettlementSampler(
            { default: o.defaultUrl, fallback: o.fallbackUrl },
            o.settlementSample,
            (at) => schedule.stepAt((at - t0) / 1000),
            (step) => schedule.conditionAt(step).label,
          )
        : null;
    const strictAuditor =
      processors !== null && o.auditEveryMs > 0
        ? new StrictAuditor(gateway, processors, o.auditLagsMs, o.auditEveryMs, t0, o.timeoutMs, (d) => progress.log(formatStrictDifference(d)))
        : null;
    const gen = new LoadGenerator(
      {
        endpoint: gatewayEndpoint,
        vus: o.vus,
        durationMs,
        thinkMs: o.thinkMs,
        timeoutMs: o.timeoutMs,
        amountCents: o.amountCents,
        ...(sampler !== null ? { sampler } : {}),
      },
      metrics,
    );

    const timers: Array<ReturnType<typeof setTimeout>> = [];
    const tasks = new Set<Promise<void>>();
    const track = (task: Promise<void>): void => {
      const p = task.catch((e: unknown) => warn(`background task failed: ${e instanceof Error ? e.message : String(e)}`));
      tasks.add(p);
      void p.finally(() => tasks.delete(p));
    };

    if (processors !== null) {
      for (const change of schedule.changesWithin(o.durationSec)) {
        timers.push(
          setTimeout(() => {
            currentLabel = change.condition.label;
            const atSec = (performance.now() - t0) / 1000;
            track(
              applyCondition(processors, change.condition).then((problems) => {
                events.push({ atSec, step: change.step, label: change.condition.label, condition: change.condition, problems });
                for (const m of problems) warn(`condition "${change.condition.label}": ${m}`);
              }),
            );
            progress.log(`[${atSec.toFixed(1)}s] condition: ${describeCondition(change.condition)}`);
          }, change.atSec * 1000),
        );
      }
    }

    if (o.auditIntervalSec > 0) {
      for (let at = o.auditIntervalSec; at < o.durationSec; at += o.auditIntervalSec) {
        timers.push(
          setTimeout(() => {
            const now = Date.now();
            track(
              auditor.audit('audit', now - AUDIT_WINDOW_FROM_MS, now - auditLagMs, o.timeoutMs).then((rec) => {
                for (const inc of rec.inconsistencies) progress.log(formatInconsistency(inc));
                if (rec.problem !== null && processors !== null) warn(`audit at ${rec.atSec.toFixed(1)}s: ${rec.problem}`);
              }),
            );
          }, at * 1000),
        );
      }
    }

    const statusLine = (phase: string): string => {
      const elapsed = (performance.now() - t0) / 1000;
      const sec = metrics.secondIndex(performance.now());
      const window = progress.isTTY ? 1 : 5;
      let done = 0;
      let secs = 0;
      for (let s = Math.max(0, sec - window); s < sec; s++) {
        const st = metrics.seconds[s];
        if (st !== undefined) done += st.ok + st.failed + st.timeouts;
        secs++;
      }
      const rps = secs > 0 ? done / secs : 0;
      const p99 = metrics.all.count > 0 ? metrics.all.percentileMs(99) : Number.NaN;
      return (
        `[${phase} ${elapsed.toFixed(1)}s/${o.durationSec}s] VUs ${gen.activeVus}/${o.vus}  ` +
        `req/s ${rps.toFixed(0)}  reqs ${metrics.totalRequests}  p99 ${fmtMs(p99)}  ` +
        `errors ${metrics.totalErrors}  timeouts ${metrics.totalTimeouts}  ` +
        `inconsistencies ${auditor.inconsistencies.length}  cond: ${currentLabel}`
      );
    };
    const progressTimer = setInterval(() => progress.update(statusLine('load')), progress.isTTY ? 1000 : 5000);

    progress.log(
      `load: ${o.vus} VUs over ${o.durationSec}s against ${o.url} (schedule ${o.schedule}` +
        `${o.schedule === 'random' || o.schedule === 'long' ? `, seed ${o.seed}` : ''}${o.admin ? '' : ', no admin'})`,
    );
    monitor.start();
    gen.start(t0);
    strictAuditor?.start();
    await sleep(durationMs);
    await gen.stop();

    // ---- the cutoff: right after the last request returned ----------------------
    // As the contract scores a run: the processors' totals over [start − 10 s (60 s long), now],
    // taken at once. A payment not recorded by then, or dated after now, is lag. --settle (off by
    // default) waits first, for diagnosis only: it hides the lag the contract counts.
    if (o.settleSec > 0 && processors !== null) {
      const condition = schedule.settleCondition;
      const label = condition === FINE ? 'reset for settlement' : `kept for settlement: ${condition.label}`;
      const problems = await applyCondition(processors, condition);
      events.push({ atSec: (performance.now() - t0) / 1000, step: -1, label, condition, problems });
      for (const m of problems) warn(`${label}: ${m}`);
    }
    if (o.settleSec > 0) {
      progress.log(`settling for ${o.settleSec}s before the final summary (diagnosis: not the contract's end)...`);
      await sleep(o.settleSec * 1000);
    }
    const cutoffMs = Date.now();
    // A sample not found by now is unsettled, like the lag the score counts.
    const settlement = sampler?.stop() ?? null;
    const final = await auditor.audit('final', startedAtMs - finalWindowBeforeStartMs(o.schedule), cutoffMs, FINAL_SUMMARY_TIMEOUT_MS);
    const datedAfterCutoff = processors === null ? null : await recordedAfter(processors, cutoffMs);

    const strictAudits = (await strictAuditor?.stop()) ?? null;
    for (const t of timers) clearTimeout(t);
    clearInterval(progressTimer);
    monitor.stop();
    const cost = monitor.snapshot();
    gen.close();
    while (tasks.size > 0) await Promise.all([...tasks]);
    progress.update(statusLine('done'));
    progress.finish();
    progress.log(
      o.settleSec > 0
        ? `final summary after a ${o.settleSec}s settle (--settle): its lag is NOT what the contract counts`
        : `final summary at the contract's cutoff: right after the last request, window [start - ${finalWindowBeforeStartMs(o.schedule) / 1000}s, cutoff]`,
    );
    for (const inc of final.inconsistencies) progress.log(formatInconsistency(inc));
    if (final.problem !== null && processors !== null) warn(`final summary: ${final.problem}`);

    const p99 = metrics.all.count > 0 ? Math.round(metrics.all.percentileMs(99) * 1000) / 1000 : null;
    const inconsistencies = auditor.inconsistencies;
    let processorReports: LoadTestResult['processors'] = null;
    let score: LoadTestResult['score'] = null;
    if (final.processors !== null) {
      const fp = final.processors;
      const feeBps = o.fees;
      const report = (name: 'default' | 'fallback', url: string): ProcessorReport => {
        const s = fp[name];
        const amountCents = toCents(s.totalAmount);
        const bps = feeBps[name];
        if (s.feePerTransaction !== null && toBps(s.feePerTransaction) !== bps) {
          warn(`${name} processor reports feePerTransaction ${s.feePerTransaction}, --fees says ${bps / 100}% (the profit uses --fees)`);
        }
        const expected = s.totalRequests * o.amountCents;
        if (expected !== amountCents) {
          warn(`${name} processor: totalAmount ${s.totalAmount} != ${s.totalRequests} x ${centsToDecimal(o.amountCents)}`);
        }
        const fee = feeMicros(amountCents, bps);
        return {
          url,
          totalRequests: s.totalRequests,
          amountCents,
          amount: formatCents(amountCents),
          feeBps: bps,
          fee: formatMicros(fee),
          feeMicros: fee,
          reported: s,
        };
      };
      processorReports = { default: report('default', o.defaultUrl), fallback: report('fallback', o.fallbackUrl) };
      const s = computeScore({
        default: { totalRequests: fp.default.totalRequests, amountCents: processorReports.default.amountCents },
        fallback: { totalRequests: fp.fallback.totalRequests, amountCents: processorReports.fallback.amountCents },
        accepted: metrics.payment.ok,
        p99Ms: p99,
        inconsistencies: inconsistencies.length,
        feeBps,
      });
      score = scoreReport(s, p99);
    }

    const result: LoadTestResult = {
      tool: 'loadtest',
      version: 1,
      startedAt: new Date(startedAtMs).toISOString(),
      loadEndedAt: new Date(cutoffMs).toISOString(),
      finishedAt: new Date().toISOString(),
      options: {
        url: o.url,
        defaultUrl: o.defaultUrl,
        fallbackUrl: o.fallbackUrl,
        admin: o.admin,
        vus: o.vus,
        durationSec: o.durationSec,
        amount: centsToDecimal(o.amountCents),
        timeoutMs: o.timeoutMs,
        thinkMs: o.thinkMs,
        schedule: o.schedule,
        seed: o.seed,
        stepSec: o.stepSec,
        fees: o.fees,
        auditIntervalSec: o.auditIntervalSec,
        auditLagMs,
        auditEveryMs: o.auditEveryMs,
        auditLagsMs: o.auditLagsMs,
        settlementSample: o.settlementSample,
        settleSec: o.settleSec,
      },
      requests: {
        all: requestCounts(metrics.payment, metrics.summary),
        payments: requestCounts(metrics.payment),
        summaries: requestCounts(metrics.summary),
      },
      latency: {
        all: latencySummary(metrics.all),
        payments: latencySummary(metrics.payment.hist),
        summaries: latencySummary(metrics.summary.hist),
      },
      acceptedPayments: metrics.payment.ok,
      processors: processorReports,
      gatewayFinalSummary: final.gateway,
      score,
      inconsistencies,
      finalDifferences: auditor.finalDifferences,
      lagDatedAfterCutoff: datedAfterCutoff,
      audits: auditor.records,
      strictAudits,
      settlement,
      schedule: { mode: o.schedule, seed: o.seed, stepSec: o.stepSec, events: events.sort((a, b) => a.atSec - b.atSec) },
      timeline: timeline(metrics),
      generator: { ...cost, connectionsOpened: gen.connectionsOpened },
      errors: metrics.errorSummary(),
      warnings,
      histogram: {
        note: 'all gateway requests, µs; decode with HdrHistogram (hdr-histogram-js decodeFromCompressedBase64)',
        hdrBase64: metrics.all.encode(),
      },
    };
    return result;
  } finally {
    closeAll();
  }
}
