import { serveWithUws } from '../http/uws-adapter.ts';
import { configOrExit, log, startInstance, stopOnSignals } from './instance.ts';

/**
 * One gateway instance on Node: uWebSockets.js in front of the workers. Node cannot run .ts, so
 * this runs as the bundle tools/build-node.ts writes: dist/node/{main-node,payment-worker,health-worker}.js.
 */
const workers = { payment: new URL('./payment-worker.js', import.meta.url), health: new URL('./health-worker.js', import.meta.url) };
const instance = await startInstance(configOrExit(), workers);
const server = serveWithUws(instance.routes, instance.config);
const http = server.native ? 'uWebSockets.js' : 'uWebSockets.js FALLBACK (its node:http emulation: the native binary did not load)';
log(`${instance.describe(instance.config.socketPath ?? `http://${instance.config.hostname}:${server.port}`)}; ${http} on Node ${process.version}`);
stopOnSignals(instance, () => server.stop());
