/** Plain-text summary table printed at the end of a run. */
import type { LatencySummary, LoadTestResult, RequestCounts } from './result.ts';

const ms = (v: number | null): string => (v === null ? '-' : `${v.toFixed(v >= 100 ? 1 : 3)} ms`);

function latencyLine(l: LatencySummary): string {
  if (l.count === 0) return 'no samples';
  return `p50 ${ms(l.p50Ms)}  p90 ${ms(l.p90Ms)}  p99 ${ms(l.p99Ms)}  max ${ms(l.maxMs)}  (n=${l.count})`;
}

function countsLine(c: RequestCounts): string {
  return (
    `total ${c.total}  ok ${c.ok}  failed ${c.failed}` +
    (c.failed > 0 ? ` (http ${c.httpErrors}, network ${c.networkErrors})` : '') +
    `  timeouts ${c.timeouts}`
  );
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function padLeft(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

export function renderTable(r: LoadTestResult, files: { json: string; html: string } | null): string {
  const rows: Array<[string, string]> = [];
  const o = r.options;
  const seeded = o.schedule === 'random' || o.schedule === 'long';
  rows.push([
    'target',
    `${o.url}  (admin: ${o.admin ? 'yes' : 'no'}, schedule: ${o.schedule}${seeded ? ` seed ${o.seed}` : ''}, fees ${o.fees.default / 100}%/${o.fees.fallback / 100}%)`,
  ]);
  rows.push(['load', `${o.vus} VUs ramped over ${o.durationSec}s, think ${o.thinkMs} ms, timeout ${o.timeoutMs} ms, settle ${o.settleSec}s`]);
  rows.push(['requests (all)', countsLine(r.requests.all)]);
  rows.push(['  payments', countsLine(r.requests.payments)]);
  rows.push(['  summaries', countsLine(r.requests.summaries)]);
  rows.push(['latency (all)', latencyLine(r.latency.all)]);
  rows.push(['  payments', latencyLine(r.latency.payments)]);
  rows.push(['  summaries', latencyLine(r.latency.summaries)]);
  if (r.processors !== null) {
    for (const name of ['default', 'fallback'] as const) {
      const p = r.processors[name];
      rows.push([`${name} processor`, `${padLeft(String(p.totalRequests), 7)} payments  amount ${padLeft(p.amount, 12)}  fee ${p.feeBps / 100}% ${p.fee}`]);
    }
  }
  const g = r.gatewayFinalSummary;
  if (g !== null) {
    rows.push([
      'gateway summary',
      `default ${g.default.totalRequests} / ${g.default.totalAmount}   fallback ${g.fallback.totalRequests} / ${g.fallback.totalAmount}`,
    ]);
  }
  rows.push(['inconsistencies', `${r.inconsistencies.length}  (contract audits, lag ${o.auditLagMs} ms)`]);
  if (r.finalDifferences.length > 0) {
    rows.push([
      'final difference',
      `${r.finalDifferences.map((d) => `${d.processor} ${d.gatewayRequests} vs ${d.processorRequests}`).join(', ')}  (gateway vs processors at the cutoff; not fined)`,
    ]);
  }
  for (const lag of r.strictAudits ?? []) {
    rows.push([
      `strict audits ${lag.lagMs} ms`,
      `${lag.compared} compared, ${lag.differences} differing` +
        (lag.failed > 0 ? `, ${lag.failed} failed` : '') +
        (lag.skipped > 0 ? `, ${lag.skipped} skipped (previous one still running)` : ''),
    ]);
    for (const d of lag.firstDifferences) {
      rows.push([
        '',
        `t=${d.atSec.toFixed(1)}s: gateway ${d.gateway.default}/${d.gateway.fallback} vs processors ${d.processors.default}/${d.processors.fallback} (default/fallback)`,
      ]);
    }
  }
  const st = r.settlement;
  if (st !== null) {
    rows.push([
      'settlement',
      `${st.sampled} sampled (${(st.fraction * 100).toFixed(1)}%), ${st.settled} settled, ${st.unsettled} unsettled at the cutoff` +
        (st.onBoth > 0 ? `, ${st.onBoth} ON BOTH PROCESSORS` : '') +
        (st.lookupErrors > 0 ? `, ${st.lookupErrors} lookup errors` : ''),
    ]);
    for (const stage of st.stages) {
      rows.push([
        `  step ${stage.step}`,
        `p50 ${ms(stage.p50Ms)}  p99 ${ms(stage.p99Ms)}  max ${ms(stage.maxMs)}  ` +
          `(${stage.settled}/${stage.sampled}: default ${stage.onDefault}, fallback ${stage.onFallback}` +
          `${stage.unsettled > 0 ? `, ${stage.unsettled} unsettled` : ''})  ${stage.label}`,
      ]);
    }
  }
  const s = r.score;
  if (s !== null) {
    const datedAfter = r.lagDatedAfterCutoff;
    const split = datedAfter === null ? '' : `  (${datedAfter} recorded but dated after the cutoff, ${Math.max(0, s.lag - datedAfter)} not yet recorded)`;
    rows.push(['accepted (2xx)', `${s.accepted}  recorded by processors ${s.recorded}  lag at the cutoff ${s.lag}${split}`]);
    rows.push(['gross', s.exact.gross]);
    rows.push([
      'fees',
      `${s.exact.fees.total} (default ${s.exact.fees.default} = ${(s.feeShare.default * 100).toFixed(1)}%, ` +
        `fallback ${s.exact.fees.fallback} = ${(s.feeShare.fallback * 100).toFixed(1)}%)`,
    ]);
    rows.push(['profit', s.exact.profit]);
    rows.push(['p99 bonus', `${(s.bonusRate * 100).toFixed(2)}% of profit = ${s.exact.bonus}  (p99 ${ms(s.p99Ms)})`]);
    rows.push(['fine', s.fineRate > 0 ? `${(s.fineRate * 100).toFixed(0)}% of profit = ${s.exact.fine}` : '0']);
    rows.push(['SCORE', s.disqualified ? `DISQUALIFIED (would be ${s.scoreBeforeDisqualification})` : s.exact.score]);
    for (const reason of s.reasons) rows.push(['', reason]);
  } else {
    const p99 = r.latency.all.p99Ms;
    const bonus = p99 === null ? 0 : Math.max((11 - p99) * 0.02, 0);
    rows.push(['score', `n/a (${o.admin ? 'processor summaries unavailable' : '--no-admin'}); p99 bonus rate would be ${(bonus * 100).toFixed(2)}%`]);
  }
  const c = r.generator;
  rows.push([
    'generator',
    `CPU ${c.cpuPercentOfOneCore.toFixed(1)}% of one core (user ${c.cpuUserMs.toFixed(0)} ms, sys ${c.cpuSystemMs.toFixed(0)} ms over ${(c.wallMs / 1000).toFixed(1)} s)`,
  ]);
  rows.push([
    '',
    `timer lateness p99 ${c.timerLatenessP99Ms.toFixed(3)} ms, max ${c.timerLatenessMaxMs.toFixed(3)} ms; ${c.connectionsOpened} connections; RSS ${c.rssMB.toFixed(0)} MB`,
  ]);
  for (const e of r.errors.slice(0, 5)) rows.push(['error', `${e.count} x ${e.message}`]);
  if (r.warnings.length > 0) rows.push(['warnings', `${r.warnings.length} (see result.json)`]);
  if (files !== null) {
    rows.push(['result', files.json]);
    rows.push(['report', files.html]);
  }
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const line = '='.repeat(78);
  return [line, 'LOAD TEST RESULT', line, ...rows.map(([k, v]) => `${pad(k, width)}${v}`), line, ''].join('\n');
}
