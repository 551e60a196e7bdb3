/**
 * Entry point: the two simulated processors, default and fallback.
 * Env: SIM_HOST, SIM_DEFAULT_PORT, SIM_FALLBACK_PORT (0 = any free port, the real
 * one is printed), SIM_DEFAULT_FEE and SIM_FALLBACK_FEE (fractions, 0.05 and 0.15 by default;
 * 0.07 and 0.10 in the contract's other runs), SIM_HEALTH_WINDOW_MS, SIM_TOKEN,
 * SIM_EXIT_ON_STDIN_CLOSE=1.
 * Prints one "simulator: NAME listening on URL" line per processor, then "simulator: ready".
 */
import { parseSimulatorEnv, type SimulatorEnv } from './env.ts';
import { startProcessor, type RunningProcessor } from './processor.ts';

let env: SimulatorEnv;
try {
  env = parseSimulatorEnv(process.env);
} catch (err) {
  console.error(`simulator: ${(err as Error).message}`);
  process.exit(2);
}

const running: RunningProcessor[] = [];
const processors = [
  { name: 'default', port: env.defaultPort, fee: env.defaultFee },
  { name: 'fallback', port: env.fallbackPort, fee: env.fallbackFee },
];
try {
  for (const p of processors) {
    const processor = startProcessor({ ...p, hostname: env.host, token: env.token, healthWindowMs: env.healthWindowMs });
    running.push(processor);
    console.log(`simulator: ${processor.name} listening on ${processor.url}`);
  }
} catch (err) {
  console.error(`simulator: cannot start: ${(err as Error).message}`);
  await Promise.all(running.map((p) => p.stop()));
  process.exit(1);
}

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Do not let a stuck connection hold the exit forever.
  setTimeout(() => process.exit(0), 2000).unref();
  await Promise.all(running.map((p) => p.stop()));
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
if (env.exitOnStdinClose) {
  process.stdin.on('end', () => void shutdown());
  process.stdin.on('close', () => void shutdown());
  process.stdin.resume();
}

console.log(`simulator: fees ${env.defaultFee} (default), ${env.fallbackFee} (fallback)`);
console.log('simulator: ready');
