import { parseFee } from './parse.ts';

/** Settings of the simulator entry point, read from the environment. */
export interface SimulatorEnv {
  host: string;
  defaultPort: number;
  fallbackPort: number;
  healthWindowMs: number;
  /** Fee of each processor as a fraction (0.05): their own configuration, not the gateway's. */
  defaultFee: number;
  fallbackFee: number;
  token: string;
  /** Exit when stdin closes: lets a spawning test harness take the simulator down with it. */
  exitOnStdinClose: boolean;
}

/** Parses and validates; throws one Error listing every invalid variable. */
export function parseSimulatorEnv(env: Record<string, string | undefined>): SimulatorEnv {
  const errors: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
    if (!(value >= min && value <= max)) {
      errors.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    }
    return value;
  };
  const fee = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = parseFee(Number(raw));
    if (value === null) errors.push(`${name} must be a fraction from 0 to 1 with at most 4 decimals (0.05), got "${raw}"`);
    return value ?? fallback;
  };
  const result: SimulatorEnv = {
    host: env.SIM_HOST || '127.0.0.1',
    defaultPort: int('SIM_DEFAULT_PORT', 8001, 0, 65535),
    fallbackPort: int('SIM_FALLBACK_PORT', 8002, 0, 65535),
    healthWindowMs: int('SIM_HEALTH_WINDOW_MS', 5000, 1, 3_600_000),
    defaultFee: fee('SIM_DEFAULT_FEE', 0.05),
    fallbackFee: fee('SIM_FALLBACK_FEE', 0.15),
    token: env.SIM_TOKEN ?? '123',
    exitOnStdinClose: env.SIM_EXIT_ON_STDIN_CLOSE === '1',
  };
  if (result.token === '') errors.push('SIM_TOKEN must not be empty');
  if (result.defaultPort !== 0 && result.defaultPort === result.fallbackPort) {
    errors.push(`SIM_DEFAULT_PORT and SIM_FALLBACK_PORT must differ, both are ${result.defaultPort}`);
  }
  if (errors.length > 0) throw new Error(`invalid environment: ${errors.join('; ')}`);
  return result;
}
