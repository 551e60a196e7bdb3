import { serveWithBun } from '../http/bun-adapter.ts';
import { configOrExit, log, startInstance, stopOnSignals } from './instance.ts';

/** One gateway instance on Bun: Bun.serve (uWebSockets in native code) in front of the workers. */
const instance = await startInstance(configOrExit());
const server = serveWithBun(instance.routes, instance.config);
log(instance.describe(instance.config.socketPath ?? `http://${instance.config.hostname}:${server.port}`));
stopOnSignals(instance, () => server.stop());
