/** Command-line options of the load tester. */
import type { ScheduleMode } from "./schedule.ts";

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
  auditIntervalSec: number;
  settleSec: number;
  outDir: string | null;
  help: boolean;
}

export class UsageError extends Error {}

export const DEFAULTS: Readonly<Omit<Options, "outDir" | "help">> = {
  url: "http://127.0.0.1:9999",
  defaultUrl: "http://127.0.0.1:8001",
  fallbackUrl: "http://127.0.0.1:8002",
  token: "123",
  admin: true,
  vus: 500,
  durationSec: 60,
  amountCents: 1990,
  timeoutMs: 1500,
  thinkMs: 1000,
  schedule: "reference",
  seed: 42,
  stepSec: 10,
  auditIntervalSec: 10,
  settleSec: 10,
};

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
                         changes, no processor summaries, no score (for bare
                         servers, e.g. nginx "return 202": latency only)

Load
  --vus N                maximum virtual users          (default ${DEFAULTS.vus})
  --duration SEC         load phase length              (default ${DEFAULTS.durationSec})
  --amount X             payment amount, <= 2 decimals  (default 19.90)
  --timeout SEC          client timeout per request     (default ${DEFAULTS.timeoutMs / 1000})
  --think SEC            sleep after each request       (default ${DEFAULTS.thinkMs / 1000})

Scenario
  --schedule MODE        reference | random | none      (default ${DEFAULTS.schedule})
                         reference: fixed cycle (fine; default +100 ms; default
                         failing; both failing 2000/1000 ms; both 20 ms;
                         fallback 5 s), repeated; random: seeded PRNG picks a
                         delay (0/20/100/500/1000-2000/5000 ms) and failure per
                         processor per step; none: processors always fine
  --seed N               seed of the random schedule    (default ${DEFAULTS.seed})
  --step SEC             condition change period        (default ${DEFAULTS.stepSec})
  --audit-interval SEC   consistency audit period, 0=off (default ${DEFAULTS.auditIntervalSec})
  --settle SEC           wait after the load before the final summary
                         (conditions are reset to fine)  (default ${DEFAULTS.settleSec},
                         0 with --no-admin)

Output
  --out DIR              report directory (default reports/loadtest-<timestamp>)
  -h, --help             show this help

Exit status: 0 when the run completed (whatever the score), 2 on usage
errors, 3 when the gateway (or, without --no-admin, a processor) is
unreachable at start.
`;

function parseNumber(name: string, raw: string, min: number, max: number, integer: boolean): number {
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(v)) throw new UsageError(`--${name}: not a number: "${raw}"`);
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
  if (u.protocol !== "http:") throw new UsageError(`--${name}: only http:// URLs are supported`);
  if (u.pathname !== "/" || u.search !== "") throw new UsageError(`--${name}: give a base URL without path`);
  return `${u.protocol}//${u.host}`;
}

const WITH_VALUE = new Set([
  "url",
  "default-url",
  "fallback-url",
  "token",
  "vus",
  "duration",
  "amount",
  "timeout",
  "think",
  "schedule",
  "seed",
  "step",
  "audit-interval",
  "settle",
  "out",
]);
const FLAGS = new Set(["no-admin", "help"]);

export function parseArgs(argv: readonly string[]): Options {
  const o: Options = { ...DEFAULTS, outDir: null, help: false };
  let settleGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? "";
    if (arg === "-h") {
      o.help = true;
      continue;
    }
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument "${arg}"`);
    let name = arg.slice(2);
    let value: string | null = null;
    const eq = name.indexOf("=");
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (FLAGS.has(name)) {
      if (value !== null) throw new UsageError(`--${name} takes no value`);
      if (name === "help") o.help = true;
      else o.admin = false;
      continue;
    }
    if (!WITH_VALUE.has(name)) throw new UsageError(`unknown option --${name} (see --help)`);
    if (value === null) {
      const next = argv[i + 1];
      if (next === undefined) throw new UsageError(`--${name} needs a value`);
      value = next;
      i++;
    }
    switch (name) {
      case "url":
        o.url = parseUrl(name, value);
        break;
      case "default-url":
        o.defaultUrl = parseUrl(name, value);
        break;
      case "fallback-url":
        o.fallbackUrl = parseUrl(name, value);
        break;
      case "token":
        if (/[\r\n]/.test(value)) throw new UsageError("--token: invalid characters");
        o.token = value;
        break;
      case "vus":
        o.vus = parseNumber(name, value, 1, 100_000, true);
        break;
      case "duration":
        o.durationSec = parseNumber(name, value, 0.1, 86_400, false);
        break;
      case "amount": {
        const a = parseNumber(name, value, 0.01, 1e9, false);
        const cents = Math.round(a * 100);
        if (Math.abs(a * 100 - cents) > 1e-6) throw new UsageError("--amount: at most 2 decimals");
        o.amountCents = cents;
        break;
      }
      case "timeout":
        o.timeoutMs = Math.round(parseNumber(name, value, 0.001, 600, false) * 1000);
        break;
      case "think":
        o.thinkMs = Math.round(parseNumber(name, value, 0, 600, false) * 1000);
        break;
      case "schedule":
        if (value !== "reference" && value !== "random" && value !== "none") {
          throw new UsageError(`--schedule: expected reference, random or none, got "${value}"`);
        }
        o.schedule = value;
        break;
      case "seed":
        o.seed = parseNumber(name, value, 0, 0xffffffff, true);
        break;
      case "step":
        o.stepSec = parseNumber(name, value, 0.1, 86_400, false);
        break;
      case "audit-interval":
        o.auditIntervalSec = parseNumber(name, value, 0, 86_400, false);
        break;
      case "settle":
        o.settleSec = parseNumber(name, value, 0, 86_400, false);
        settleGiven = true;
        break;
      case "out":
        if (value === "") throw new UsageError("--out: empty directory name");
        o.outDir = value;
        break;
    }
  }
  // nothing settles on a bare server
  if (!o.admin && !settleGiven) o.settleSec = 0;
  return o;
}
