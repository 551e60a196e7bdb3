/** Command-line options of the load tester, parsed with node:util parseArgs. */
import { parseArgs } from 'node:util';
import { LONG_MIN_STEPS, Schedule, type ScheduleMode } from './schedule.ts';
import { DEFAULT_FEE_BPS, FALLBACK_FEE_BPS } from './score.ts';

/** Processor fees in basis points (500 = 5 %). */
export interface FeesBps {
  default: number;
  fallback: number;
}

export interface Options {
  url: string;
  defaultUrl: string;
  fallbackUrl: string;
  token: string;
  admin: boolean;
  vus: number;
  durationSec: number;
  amountCents: number;
  timeoutMs: number;
  thinkMs: number;
  schedule: ScheduleMode;
  seed: number;
  stepSec: number;
  fees: FeesBps;
  auditIntervalSec: number;
  /** Strict auditor period (ms); 0 = off. */
  auditEveryMs: number;
  /** Strict auditor lags (ms): windows [now − 15 s, now − lag]. */
  auditLagsMs: number[];
  /** Fraction of accepted payments whose settlement is timed; 0 = off. */
  settlementSample: number;
  settleSec: number;
  /** Second target of --compare mode, or null. */
  compareUrl: string | null;
  rounds: number;
  outDir: string | null;
  help: boolean;
}

export class UsageError extends Error {}

export const DEFAULTS: Readonly<Omit<Options, 'outDir' | 'help' | 'compareUrl'>> = {
  url: 'http://127.0.0.1:9999',
  defaultUrl: 'http://127.0.0.1:8001',
  fallbackUrl: 'http://127.0.0.1:8002',
  token: '123',
  admin: true,
  vus: 500,
  durationSec: 60,
  amountCents: 1990,
  timeoutMs: 1500,
  thinkMs: 1000,
  schedule: 'reference',
  seed: 42,
  stepSec: 10,
  fees: { default: DEFAULT_FEE_BPS, fallback: FALLBACK_FEE_BPS },
  auditIntervalSec: 10,
  auditEveryMs: 0,
  auditLagsMs: [1500, 2000],
  settlementSample: 0.05,
  settleSec: 0,
  rounds: 3,
};

/** What --schedule long changes unless given: the contract's longer runs. */
export const LONG_DEFAULTS = { vus: 600, durationSec: 300, stepSec: 30 } as const;

export const HELP = `Usage: bun tools/loadtest/main.ts [options]

Plays the contract's reference scenario against a payment gateway: virtual
users ramp linearly from 1 to --vus over --duration, each looping
"POST /payments (fresh UUID) then sleep"; processor conditions change every
--step seconds through the admin API; an auditor compares the gateway's
/payments-summary with the processors' admin summaries; at the end the score
is computed and a table, result.json and report.html are written.

Target
  --url URL              gateway base URL               (default ${DEFAULTS.url})
  --default-url URL      default processor base URL     (default ${DEFAULTS.defaultUrl})
  --fallback-url URL     fallback processor base URL    (default ${DEFAULTS.fallbackUrl})
  --token TOKEN          X-Rinha-Token for admin calls  (default ${DEFAULTS.token})
  --no-admin             do not touch the processors: no purge, no condition
                         changes, no processor summaries, no settlement
                         sampling, no score (for bare servers, e.g. nginx
                         "return 202": latency only)

Load
  --vus N                maximum virtual users          (default ${DEFAULTS.vus}; ${LONG_DEFAULTS.vus} with --schedule long)
  --duration SEC         load phase length              (default ${DEFAULTS.durationSec}; ${LONG_DEFAULTS.durationSec} with --schedule long)
  --amount X             payment amount, <= 2 decimals  (default 19.90)
  --timeout SEC          client timeout per request     (default ${DEFAULTS.timeoutMs / 1000})
  --think SEC            sleep after each request       (default ${DEFAULTS.thinkMs / 1000})

Scenario
  --schedule MODE        reference | random | long | none (default ${DEFAULTS.schedule})
                         reference: fixed cycle (fine; default +100 ms; default
                         failing; both failing 2000/1000 ms; both 20 ms;
                         fallback 5 s), repeated; random: seeded PRNG picks a
                         delay (0/20/100/500/1000-2000/5000 ms) and failure per
                         processor per step; long: the contract's longer run,
                         seeded (a default outage of two steps, a fallback
                         outage, both slow, default slowed to 1-5 s mid-run and
                         in the last step; contract audit lag 2 s instead of
                         1.5 s); none: processors always fine
  --seed N               seed of the random and long schedules (default ${DEFAULTS.seed})
  --step SEC             condition change period        (default ${DEFAULTS.stepSec}; ${LONG_DEFAULTS.stepSec} with --schedule long)
  --fees D/F             the processors' fees in %, default/fallback, used for
                         the profit; set on the processors through their admin
                         API when they accept it (the simulator does)
                                                        (default ${DEFAULTS.fees.default / 100}/${DEFAULTS.fees.fallback / 100}; the contract's runs: 5/15 or 7/10)
  --audit-interval SEC   contract audit period, 0=off   (default ${DEFAULTS.auditIntervalSec})
  --audit-every MS       strict auditor: compare every MS ms, 0=off (default ${DEFAULTS.auditEveryMs})
  --audit-lags MS,...    strict auditor lags: windows [now-15s, now-lag], all
                         compared at each audit         (default ${DEFAULTS.auditLagsMs.join(',')})
  --settlement-sample F  fraction of accepted payments whose time to settle is
                         measured by polling GET /payments/{id} on both
                         processors, 0=off              (default ${DEFAULTS.settlementSample})
  --settle SEC           diagnosis only: wait after the load before the final
                         summary (conditions reset to fine; the long schedule
                         keeps its slow end). The contract takes its totals
                         right after the last request: with any wait the lag
                         is not the contract's     (default ${DEFAULTS.settleSec})

Compare
  --compare URL          alternate the load between --url and URL (latency
                         only, as with --no-admin), --rounds times each, and
                         print both p99s and their ratio
  --rounds N             rounds per target with --compare (default ${DEFAULTS.rounds})

Output
  --out DIR              report directory (default reports/loadtest-<timestamp>)
  -h, --help             show this help

Exit status: 0 when the run completed (whatever the score), 2 on usage
errors, 3 when the gateway (or, without --no-admin, a processor) is
unreachable at start.
`;

function parseNumber(name: string, raw: string, min: number, max: number, integer: boolean): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new UsageError(`--${name}: not a number: "${raw}"`);
  if (integer && !Number.isInteger(v)) throw new UsageError(`--${name}: must be an integer: "${raw}"`);
  if (v < min || v > max) throw new UsageError(`--${name}: must be between ${min} and ${max}`);
  return v;
}

function parseUrl(name: string, raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new UsageError(`--${name}: invalid URL "${raw}"`);
  }
  if (u.protocol !== 'http:') throw new UsageError(`--${name}: only http:// URLs are supported`);
  if (u.pathname !== '/' || u.search !== '') throw new UsageError(`--${name}: give a base URL without path`);
  return `${u.protocol}//${u.host}`;
}

/** "5/15" → basis points; each a percentage with at most 2 decimals. */
function parseFees(raw: string): FeesBps {
  const parts = raw.split('/');
  const bps = parts.map((p) => Math.round(parseNumber('fees', p, 0, 100, false) * 100));
  if (parts.length !== 2 || parts.some((p, i) => Math.abs(Number(p) * 100 - (bps[i] ?? 0)) > 1e-6)) {
    throw new UsageError(`--fees: expected DEFAULT/FALLBACK percentages with at most 2 decimals (5/15), got "${raw}"`);
  }
  return { default: bps[0] ?? 0, fallback: bps[1] ?? 0 };
}

const SPEC = {
  url: { type: 'string' },
  'default-url': { type: 'string' },
  'fallback-url': { type: 'string' },
  token: { type: 'string' },
  'no-admin': { type: 'boolean' },
  vus: { type: 'string' },
  duration: { type: 'string' },
  amount: { type: 'string' },
  timeout: { type: 'string' },
  think: { type: 'string' },
  schedule: { type: 'string' },
  seed: { type: 'string' },
  step: { type: 'string' },
  fees: { type: 'string' },
  'audit-interval': { type: 'string' },
  'audit-every': { type: 'string' },
  'audit-lags': { type: 'string' },
  'settlement-sample': { type: 'string' },
  settle: { type: 'string' },
  compare: { type: 'string' },
  rounds: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const parseStrict = (args: string[]) => parseArgs({ args, options: SPEC, strict: true, allowPositionals: false });

export function parseOptions(argv: readonly string[]): Options {
  let values: ReturnType<typeof parseStrict>['values'];
  try {
    ({ values } = parseStrict([...argv]));
  } catch (e) {
    // node:util names the offending option in its message (ERR_PARSE_ARGS_*).
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const v = values;
  const o: Options = { ...DEFAULTS, fees: { ...DEFAULTS.fees }, compareUrl: null, outDir: null, help: v.help === true };
  if (v.schedule !== undefined) {
    if (v.schedule !== 'reference' && v.schedule !== 'random' && v.schedule !== 'long' && v.schedule !== 'none') {
      throw new UsageError(`--schedule: expected reference, random, long or none, got "${v.schedule}"`);
    }
    o.schedule = v.schedule;
    if (o.schedule === 'long') Object.assign(o, LONG_DEFAULTS);
  }
  if (v.url !== undefined) o.url = parseUrl('url', v.url);
  if (v['default-url'] !== undefined) o.defaultUrl = parseUrl('default-url', v['default-url']);
  if (v['fallback-url'] !== undefined) o.fallbackUrl = parseUrl('fallback-url', v['fallback-url']);
  if (v.token !== undefined) {
    if (/[\r\n]/.test(v.token)) throw new UsageError('--token: invalid characters');
    o.token = v.token;
  }
  if (v['no-admin'] === true) o.admin = false;
  if (v.compare !== undefined) {
    o.compareUrl = parseUrl('compare', v.compare);
    o.admin = false;
  }
  if (v.vus !== undefined) o.vus = parseNumber('vus', v.vus, 1, 100_000, true);
  if (v.duration !== undefined) o.durationSec = parseNumber('duration', v.duration, 0.1, 86_400, false);
  if (v.amount !== undefined) {
    const a = parseNumber('amount', v.amount, 0.01, 1e9, false);
    const cents = Math.round(a * 100);
    if (Math.abs(a * 100 - cents) > 1e-6) throw new UsageError('--amount: at most 2 decimals');
    o.amountCents = cents;
  }
  if (v.timeout !== undefined) o.timeoutMs = Math.round(parseNumber('timeout', v.timeout, 0.001, 600, false) * 1000);
  if (v.think !== undefined) o.thinkMs = Math.round(parseNumber('think', v.think, 0, 600, false) * 1000);
  if (v.seed !== undefined) o.seed = parseNumber('seed', v.seed, 0, 0xffffffff, true);
  if (v.step !== undefined) o.stepSec = parseNumber('step', v.step, 0.1, 86_400, false);
  if (v.fees !== undefined) o.fees = parseFees(v.fees);
  if (v['audit-interval'] !== undefined) o.auditIntervalSec = parseNumber('audit-interval', v['audit-interval'], 0, 86_400, false);
  if (v['audit-every'] !== undefined) o.auditEveryMs = parseNumber('audit-every', v['audit-every'], 0, 3_600_000, true);
  if (v['audit-lags'] !== undefined) {
    o.auditLagsMs = v['audit-lags'].split(',').map((lag) => parseNumber('audit-lags', lag, 0, 14_999, true));
    if (new Set(o.auditLagsMs).size !== o.auditLagsMs.length) throw new UsageError('--audit-lags: a lag is given twice');
  }
  if (v['settlement-sample'] !== undefined) {
    o.settlementSample = parseNumber('settlement-sample', v['settlement-sample'], 0, 1, false);
  }
  if (v.settle !== undefined) o.settleSec = parseNumber('settle', v.settle, 0, 86_400, false);
  if (v.rounds !== undefined) o.rounds = parseNumber('rounds', v.rounds, 1, 1000, true);
  if (o.schedule === 'long' && Schedule.fullSteps(o.durationSec, o.stepSec) < LONG_MIN_STEPS) {
    throw new UsageError(`--schedule long needs --duration of at least ${LONG_MIN_STEPS} steps (${LONG_MIN_STEPS} x --step ${o.stepSec} s)`);
  }
  if (v.out !== undefined) {
    if (v.out === '') throw new UsageError('--out: empty directory name');
    o.outDir = v.out;
  }
  return o;
}
