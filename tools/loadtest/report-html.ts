/**
 * Self-contained HTML report (no scripts, no external assets): key figures,
 * inline SVG plots of latency (p50/p99 per second, log scale) and throughput
 * (req/s per second, VUs) with the processor-condition changes marked, and
 * tables of schedule events, audits, inconsistencies, errors and warnings.
 */
import type { LatencySummary, LoadTestResult } from './result.ts';
import { describeCondition } from './schedule.ts';

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

export interface Series {
  name: string;
  color: string;
  values: Array<number | null>;
  dashed?: boolean;
}

export interface Marker {
  x: number;
  label: string;
  color?: string;
}

export interface ChartSpec {
  title: string;
  yLabel: string;
  series: Series[];
  markers: Marker[];
  logY: boolean;
  width?: number;
  height?: number;
}

const f = (v: number): string => (Math.round(v * 10) / 10).toString();

function niceLinearMax(v: number): number {
  if (v <= 0) return 1;
  const mag = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= v) return m * mag;
  return 10 * mag;
}

function tickLabel(v: number): string {
  if (v >= 1000) return `${v / 1000}k`;
  if (v >= 1) return String(Math.round(v * 100) / 100);
  return String(Number(v.toPrecision(2)));
}

/** Renders a line chart as an SVG string. */
export function lineChart(spec: ChartSpec): string {
  const width = spec.width ?? 960;
  const height = spec.height ?? 300;
  const m = { left: 64, right: 16, top: 28, bottom: 40 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const n = Math.max(1, ...spec.series.map((s) => s.values.length));
  const all: number[] = [];
  for (const s of spec.series) for (const v of s.values) if (v !== null && Number.isFinite(v)) all.push(v);

  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(spec.title)}">`,
  );
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`);
  parts.push(`<text x="${m.left}" y="18" font-size="14" font-weight="bold">${escapeHtml(spec.title)}</text>`);
  if (all.length === 0) {
    parts.push(`<text x="${width / 2}" y="${height / 2}" text-anchor="middle" fill="#888">no data</text></svg>`);
    return parts.join('');
  }

  let yOf: (v: number) => number;
  const ticks: number[] = [];
  if (spec.logY) {
    const positive = all.filter((v) => v > 0);
    const lo = 10 ** Math.floor(Math.log10(Math.min(...(positive.length > 0 ? positive : [0.01]))));
    const hi = 10 ** Math.ceil(Math.log10(Math.max(...(positive.length > 0 ? positive : [1]), lo * 10)));
    const l0 = Math.log10(lo);
    const l1 = Math.log10(hi);
    yOf = (v: number): number => {
      const lv = Math.log10(Math.max(v, lo));
      return m.top + ph - ((lv - l0) / (l1 - l0)) * ph;
    };
    for (let d = lo; d <= hi * 1.0001; d *= 10) {
      for (const k of [1, 2, 5]) if (d * k <= hi * 1.0001) ticks.push(d * k);
    }
  } else {
    const hi = niceLinearMax(Math.max(...all));
    yOf = (v: number): number => m.top + ph - (Math.max(0, v) / hi) * ph;
    for (let i = 0; i <= 5; i++) ticks.push((hi * i) / 5);
  }
  const xOf = (i: number): number => m.left + (n <= 1 ? pw / 2 : (i / (n - 1)) * pw);

  // grid + y ticks
  for (const t of ticks) {
    const y = yOf(t);
    parts.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${f(y)}" y2="${f(y)}" stroke="#eee"/>`);
    parts.push(`<text x="${m.left - 6}" y="${f(y + 4)}" font-size="11" text-anchor="end" fill="#555">${tickLabel(t)}</text>`);
  }
  // x ticks every ~10 % of the range, on whole seconds
  const step = Math.max(1, Math.ceil(n / 10 / 5) * 5);
  for (let i = 0; i < n; i += step) {
    const x = xOf(i);
    parts.push(`<line x1="${f(x)}" x2="${f(x)}" y1="${m.top + ph}" y2="${m.top + ph + 4}" stroke="#555"/>`);
    parts.push(`<text x="${f(x)}" y="${m.top + ph + 16}" font-size="11" text-anchor="middle" fill="#555">${i}s</text>`);
  }
  parts.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  parts.push(`<text transform="translate(14 ${m.top + ph / 2}) rotate(-90)" font-size="12" text-anchor="middle" fill="#333">${escapeHtml(spec.yLabel)}</text>`);
  parts.push(`<text x="${m.left + pw / 2}" y="${height - 6}" font-size="12" text-anchor="middle" fill="#333">seconds since start</text>`);

  // markers (condition changes)
  for (const mk of spec.markers) {
    if (!(mk.x >= 0)) continue;
    const x = n <= 1 ? xOf(0) : m.left + (Math.min(mk.x, n - 1) / (n - 1)) * pw;
    const color = mk.color ?? '#b36b00';
    parts.push(
      `<line x1="${f(x)}" x2="${f(x)}" y1="${m.top}" y2="${m.top + ph}" stroke="${color}" stroke-dasharray="4 3"><title>${escapeHtml(mk.label)}</title></line>`,
    );
    parts.push(`<text transform="translate(${f(x + 3)} ${m.top + 4}) rotate(90)" font-size="10" fill="${color}">${escapeHtml(mk.label)}</text>`);
  }

  // series
  for (const s of spec.series) {
    let d = '';
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${f(xOf(i))} ${f(yOf(v))}`;
      pen = true;
    });
    if (d !== '') {
      parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"${s.dashed === true ? ' stroke-dasharray="5 3"' : ''}/>`);
    }
  }
  // legend
  let lx = m.left + pw;
  for (const s of [...spec.series].reverse()) {
    const w = 30 + s.name.length * 7;
    lx -= w;
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="14" y2="14" stroke="${s.color}" stroke-width="2"${s.dashed === true ? ' stroke-dasharray="5 3"' : ''}/>`);
    parts.push(`<text x="${lx + 22}" y="18" font-size="11">${escapeHtml(s.name)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}

function table(headers: string[], rows: string[][]): string {
  if (rows.length === 0) return '<p class="muted">none</p>';
  const head = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

const msStr = (v: number | null): string => (v === null ? '-' : `${v.toFixed(3)} ms`);

function latencyRow(name: string, l: LatencySummary): string[] {
  return [name, String(l.count), msStr(l.p50Ms), msStr(l.p90Ms), msStr(l.p99Ms), msStr(l.maxMs)];
}

export function renderHtml(r: LoadTestResult): string {
  const o = r.options;
  const markers: Marker[] = r.schedule.events.filter((e) => e.step !== 0).map((e) => ({ x: e.atSec, label: e.step < 0 ? e.label : `${e.label}` }));
  markers.push({ x: o.durationSec, label: 'load end', color: '#666' });
  for (const i of r.inconsistencies) {
    if (i.phase === 'audit') markers.push({ x: i.atSec, label: `inconsistency (${i.processor})`, color: '#c00' });
  }
  const tl = r.timeline;
  const latencySvg = lineChart({
    title: 'Latency per second (gateway requests, client-side)',
    yLabel: 'ms (log scale)',
    logY: true,
    series: [
      { name: 'p50', color: '#1f77b4', values: tl.map((p) => p.p50Ms) },
      { name: 'p99', color: '#d62728', values: tl.map((p) => p.p99Ms) },
      { name: 'max', color: '#bbb', values: tl.map((p) => p.maxMs), dashed: true },
    ],
    markers,
  });
  const throughputSvg = lineChart({
    title: 'Throughput per second',
    yLabel: 'requests / s',
    logY: false,
    series: [
      { name: 'ok/s', color: '#2ca02c', values: tl.map((p) => p.ok) },
      { name: 'failed+timeouts/s', color: '#d62728', values: tl.map((p) => p.failed + p.timeouts) },
      { name: 'VUs', color: '#888', values: tl.map((p) => p.vus), dashed: true },
    ],
    markers,
  });

  const s = r.score;
  const keyRows: string[][] = [
    ['target', `${o.url} (admin: ${o.admin ? 'yes' : 'no'})`],
    [
      'scenario',
      `${o.vus} VUs over ${o.durationSec}s, schedule ${o.schedule}${o.schedule === 'random' || o.schedule === 'long' ? ` (seed ${o.seed})` : ''}, fees ${o.fees.default / 100}%/${o.fees.fallback / 100}%, settle ${o.settleSec}s`,
    ],
    ['started', r.startedAt],
    ['requests', `${r.requests.all.total} total, ${r.requests.all.ok} ok, ${r.requests.all.failed} failed, ${r.requests.all.timeouts} timeouts`],
    ['p99 (all gateway requests)', msStr(r.latency.all.p99Ms)],
    ['inconsistencies', String(r.inconsistencies.length)],
  ];
  if (s !== null) {
    keyRows.push(
      ['accepted / recorded / lag at the cutoff', `${s.accepted} / ${s.recorded} / ${s.lag}`],
      ['fee share default / fallback', `${(s.feeShare.default * 100).toFixed(1)}% / ${(s.feeShare.fallback * 100).toFixed(1)}%`],
      ['profit', s.exact.profit],
      ['p99 bonus', `${(s.bonusRate * 100).toFixed(2)}% = ${s.exact.bonus}`],
      ['fine', s.exact.fine],
      ['SCORE', s.disqualified ? `DISQUALIFIED (${s.reasons[0] ?? ''})` : s.exact.score],
    );
  } else {
    keyRows.push(['score', o.admin ? 'n/a (processor summaries unavailable)' : 'n/a (--no-admin)']);
  }
  const g = r.generator;
  keyRows.push([
    'generator cost',
    `${g.cpuPercentOfOneCore.toFixed(1)}% of one core; timer lateness p99 ${g.timerLatenessP99Ms.toFixed(3)} ms, max ${g.timerLatenessMaxMs.toFixed(3)} ms; ${g.connectionsOpened} connections`,
  ]);

  const processorRows: string[][] = [];
  if (r.processors !== null) {
    for (const name of ['default', 'fallback'] as const) {
      const p = r.processors[name];
      processorRows.push([name, p.url, String(p.totalRequests), p.amount, `${p.feeBps / 100}%`, p.fee]);
    }
  }

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Load test ${escapeHtml(r.startedAt)}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;max-width:1000px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}.muted{color:#888}svg{display:block;margin:12px 0;max-width:100%;height:auto}
</style></head><body>
<h1>Payment gateway load test</h1>
${table(['', ''], keyRows)}
<h2>Latency</h2>
${table(
  ['requests', 'count', 'p50', 'p90', 'p99', 'max'],
  [
    latencyRow('all gateway requests', r.latency.all),
    latencyRow('POST /payments', r.latency.payments),
    latencyRow('GET /payments-summary', r.latency.summaries),
  ],
)}
${latencySvg}
${throughputSvg}
<h2>Processors (final summary)</h2>
${table(['processor', 'url', 'payments', 'amount', 'fee rate', 'fee'], processorRows)}
<h2>Processor conditions</h2>
${table(
  ['at', 'step', 'label', 'condition', 'problems'],
  r.schedule.events.map((e) => [`${e.atSec.toFixed(1)}s`, String(e.step), e.label, describeCondition(e.condition), e.problems.join('; ')]),
)}
<h2>Inconsistencies</h2>
${table(
  ['phase', 'at', 'window', 'processor', 'gateway', 'processor'],
  r.inconsistencies.map((i) => [
    i.phase,
    `${i.atSec.toFixed(1)}s`,
    `${i.from} .. ${i.to}`,
    i.processor,
    `${i.gatewayRequests} / ${i.gatewayAmount}`,
    `${i.processorRequests} / ${i.processorAmount}`,
  ]),
)}
<h2>Settlement time (from the 202 to found on a processor)</h2>
${table(
  ['step', 'condition at the 202', 'sampled', 'settled', 'unsettled', 'default', 'fallback', 'p50', 'p99', 'max'],
  (r.settlement?.stages ?? []).map((st) => [
    String(st.step),
    st.label,
    String(st.sampled),
    String(st.settled),
    String(st.unsettled),
    String(st.onDefault),
    String(st.onFallback),
    msStr(st.p50Ms),
    msStr(st.p99Ms),
    msStr(st.maxMs),
  ]),
)}
<h2>Strict audits</h2>
${table(
  ['lag', 'compared', 'differing', 'failed', 'skipped', 'first differences (gateway vs processors, default/fallback)'],
  (r.strictAudits ?? []).map((lag) => [
    `${lag.lagMs} ms`,
    String(lag.compared),
    String(lag.differences),
    String(lag.failed),
    String(lag.skipped),
    lag.firstDifferences
      .map((d) => `t=${d.atSec.toFixed(1)}s ${d.gateway.default}/${d.gateway.fallback} vs ${d.processors.default}/${d.processors.fallback}`)
      .join('; '),
  ]),
)}
<h2>Audits</h2>
${table(
  ['phase', 'at', 'window', 'gateway default', 'gateway fallback', 'processor default', 'processor fallback', 'problem'],
  r.audits.map((a) => [
    a.phase,
    `${a.atSec.toFixed(1)}s`,
    `${a.from} .. ${a.to}`,
    a.gateway === null ? '-' : String(a.gateway.default.totalRequests),
    a.gateway === null ? '-' : String(a.gateway.fallback.totalRequests),
    a.processors === null ? '-' : String(a.processors.default.totalRequests),
    a.processors === null ? '-' : String(a.processors.fallback.totalRequests),
    a.problem ?? '',
  ]),
)}
<h2>Errors</h2>
${table(
  ['count', 'message'],
  r.errors.map((e) => [String(e.count), e.message]),
)}
<h2>Warnings</h2>
${table(
  ['message'],
  r.warnings.map((w) => [w]),
)}
</body></html>
`;
}
