import { isFault } from './faults.ts';
import { feeBps, parseFee, parseIsoTimestamp, parseJsonObject } from './parse.ts';
import { json, type ProcessorState } from './state.ts';

/** The /admin/* endpoints: all need the X-Rinha-Token header equal to the current token. */
export async function handleAdmin(req: Request, url: URL, state: ProcessorState): Promise<Response> {
  const { config } = state;
  if (req.headers.get('x-rinha-token') !== config.token) return json(401, { message: 'invalid token' });
  const route = `${req.method} ${url.pathname}`;
  switch (route) {
    case 'GET /admin/payments-summary':
      return summary(url, state);
    case 'GET /admin/configurations': // simulator extension, for tooling
      return json(200, { delay: config.delayMs, failure: config.failing, fault: config.fault, fee: config.fee });
    case 'POST /admin/purge-payments':
      state.store.purge();
      return json(200, { message: 'all payments purged' });
  }
  const setting = /^PUT \/admin\/configurations\/(delay|failure|token|fault|fee)$/.exec(route)?.[1];
  if (!setting) return json(404, { message: 'not found' });
  const body = parseJsonObject(await req.text());
  const value = body?.[setting];
  switch (setting) {
    case 'delay':
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) break;
      config.delayMs = Math.round(value);
      return json(200, { message: `delay set to ${config.delayMs}` });
    case 'failure':
      if (typeof value !== 'boolean') break;
      config.failing = value;
      return json(200, { message: `failure set to ${value}` });
    case 'token':
      if (typeof value !== 'string' || value === '') break;
      config.token = value;
      return json(200, { message: 'token changed' });
    case 'fault':
      if (!isFault(value)) break;
      config.fault = value;
      return json(200, { message: `fault set to ${value}` });
    case 'fee': {
      // Simulator extension: a real processor's fee is its own configuration, out of reach.
      const fee = parseFee(value);
      if (fee === null) break;
      config.fee = fee;
      return json(200, { message: `fee set to ${fee}` });
    }
  }
  return json(400, { message: `body must be {"${setting}": <valid value>}` });
}

function summary(url: URL, state: ProcessorState): Response {
  // An empty bound counts as missing.
  const from = url.searchParams.get('from') || null;
  const to = url.searchParams.get('to') || null;
  let range: { fromMs: number; toMs: number } | undefined;
  if (from !== null && to !== null) {
    const fromMs = parseIsoTimestamp(from);
    const toMs = parseIsoTimestamp(to);
    if (fromMs === null || toMs === null) return json(400, { message: 'from and to must be ISO-8601 timestamps' });
    range = { fromMs, toMs };
  }
  const { count, totalCents } = state.store.summary(range);
  const { fee } = state.config;
  return json(200, {
    totalRequests: count,
    totalAmount: totalCents / 100,
    // Integer cents × basis points: exact, rounded once to the cent.
    totalFee: Math.round((totalCents * feeBps(fee)) / 10_000) / 100,
    feePerTransaction: fee,
  });
}
