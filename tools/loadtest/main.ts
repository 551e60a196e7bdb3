/**
 * CLI entry point: bun tools/loadtest/main.ts [options]  (see --help)
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { renderCompare, runCompare } from './compare.ts';
import { HELP, type Options, UsageError, parseOptions } from './options.ts';
import { Progress } from './progress.ts';
import { renderHtml } from './report-html.ts';
import { renderTable } from './report-table.ts';
import type { LoadTestResult } from './result.ts';
import { UnreachableError, runLoadTest } from './run.ts';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNREACHABLE = 3;

function defaultOutDir(): string {
  const stamp = new Date()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
  let dir = join('reports', `loadtest-${stamp}`);
  for (let i = 2; existsSync(dir); i++) dir = join('reports', `loadtest-${stamp}-${i}`);
  return dir;
}

export function writeReports(result: LoadTestResult, outDir: string): { json: string; html: string } {
  mkdirSync(outDir, { recursive: true });
  const json = resolve(outDir, 'result.json');
  const html = resolve(outDir, 'report.html');
  writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(html, renderHtml(result));
  return { json, html };
}

export async function main(argv: readonly string[]): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`loadtest: ${e.message}\nRun with --help for the list of options.\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
  if (options.help) {
    process.stdout.write(HELP);
    return EXIT_OK;
  }
  const progress = new Progress(process.stdout.isTTY === true, { write: (t) => void process.stdout.write(t) });
  if (options.compareUrl !== null) return compare(options, progress);
  const result = await orExitCode(() => runLoadTest(options, progress), progress);
  if (typeof result === 'number') return result;
  const outDir = options.outDir ?? defaultOutDir();
  let files: { json: string; html: string } | null = null;
  try {
    files = writeReports(result, outDir);
  } catch (e) {
    process.stderr.write(`loadtest: could not write reports to ${outDir}: ${e instanceof Error ? e.message : String(e)}\n`);
  }
  process.stdout.write(renderTable(result, files));
  return files === null ? EXIT_FAILURE : EXIT_OK;
}

/** Runs `run`; on an error, says what happened on stderr and gives the exit code instead. */
async function orExitCode<T extends object>(run: () => Promise<T>, progress: Progress): Promise<T | number> {
  try {
    return await run();
  } catch (e) {
    progress.finish();
    if (e instanceof UnreachableError) {
      process.stderr.write(`loadtest: ${e.message}\n`);
      return EXIT_UNREACHABLE;
    }
    process.stderr.write(`loadtest: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return EXIT_FAILURE;
  }
}

async function compare(options: Options, progress: Progress): Promise<number> {
  const result = await orExitCode(() => runCompare(options, progress), progress);
  if (typeof result === 'number') return result;
  const outDir = options.outDir ?? defaultOutDir();
  let file: string | null = null;
  try {
    mkdirSync(outDir, { recursive: true });
    file = resolve(outDir, 'compare.json');
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  } catch (e) {
    process.stderr.write(`loadtest: could not write ${outDir}/compare.json: ${e instanceof Error ? e.message : String(e)}\n`);
    file = null;
  }
  process.stdout.write(renderCompare(result, file));
  return file === null ? EXIT_FAILURE : EXIT_OK;
}

if (import.meta.main) {
  const code = await main(process.argv.slice(2));
  process.exitCode = code;
  // all sockets are closed by now; don't let a straggling handle keep us alive
  setTimeout(() => process.exit(code), 2000).unref();
}
