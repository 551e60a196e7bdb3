/**
 * `npm run local`: the gateway on :9999 with the processor simulator, in one command.
 *
 * With HAProxy or nginx installed, this is the deployment itself (tools/stack.ts): two gateway
 * instances on unix sockets behind the load balancer, within the contract's 1.5 CPU / 350 MB when
 * run as root; options are tools/stack.ts's (`npm run local -- --lb nginx`). Without a load
 * balancer, or with `--single`, one gateway instance on :9999 instead, and it says so.
 *
 * Either way, output of each process is prefixed with its name; Ctrl-C stops everything. With
 * DEFAULT_PROCESSOR_URL and FALLBACK_PROCESSOR_URL set, no simulator is started.
 */
import type { Subprocess } from 'bun';
import { parseArgs } from 'node:util';
import { STACK_ARGS, STACK_HELP, StackUsageError, installedLoadBalancer, parseStackArgs, runStack } from './stack.ts';

const args = process.argv.slice(2);
// Not strict: the stack's own parsing judges the rest (and --single ignores it).
const { values } = parseArgs({ args, options: { ...STACK_ARGS, single: { type: 'boolean' } }, strict: false, allowPositionals: true });
const single = values.single === true;
const lb = installedLoadBalancer();

if (values.help === true) {
  console.log(`Usage: bun tools/local.ts [--single] [stack options]\n\n--single: one gateway instance on :9999, no load balancer.\n\n${STACK_HELP}`);
  process.exit(0);
}

if (!single && lb !== null) {
  const stackArgs = values.lb !== undefined ? args : ['--lb', lb, ...args];
  try {
    await runStack(parseStackArgs(stackArgs));
  } catch (error) {
    if (!(error instanceof StackUsageError)) throw error;
    console.error(`local: ${error.message}\n\n${STACK_HELP}`);
    process.exit(2);
  }
} else {
  const port = process.env.PORT ?? '9999';
  console.log(
    single
      ? `[local] --single: one gateway instance on :${port}, no load balancer`
      : `[local] neither haproxy nor nginx is installed: one gateway instance on :${port}, no load balancer (apt-get install haproxy for the two-instance deployment)`,
  );
  await runSingle();
}

async function runSingle(): Promise<void> {
  const bun = process.execPath;
  const children: { name: string; proc: Subprocess }[] = [];
  let stopping = false;

  function start(name: string, cmdArgs: string[], env: Record<string, string>): Subprocess {
    const proc = Bun.spawn([bun, ...cmdArgs], { env: { ...process.env, ...env }, stdout: 'pipe', stderr: 'pipe' });
    const relay = async (stream: ReadableStream<Uint8Array>, sink: NodeJS.WriteStream) => {
      const decoder = new TextDecoder();
      let pending = '';
      for await (const chunk of stream) {
        pending += decoder.decode(chunk, { stream: true });
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) sink.write(`[${name}] ${line}\n`);
      }
    };
    void relay(proc.stdout as ReadableStream<Uint8Array>, process.stdout);
    void relay(proc.stderr as ReadableStream<Uint8Array>, process.stderr);
    children.push({ name, proc });
    void proc.exited.then((code) => {
      if (!stopping) {
        console.error(`[local] ${name} exited with ${code}; stopping`);
        void stop(1);
      }
    });
    return proc;
  }

  async function stop(code: number): Promise<never> {
    stopping = true;
    for (const { proc } of children) proc.kill('SIGTERM');
    await Promise.race([Promise.all(children.map(({ proc }) => proc.exited)), Bun.sleep(15_000)]);
    process.exit(code);
  }
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  /** Polls a lookup of an unknown payment (404), which unlike service-health has no rate limit. */
  async function waitUntilServing(proc: Subprocess, url: string): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && proc.exitCode === null) {
      const response = await fetch(`${url}/payments/00000000-0000-0000-0000-000000000000`).catch(() => null);
      if (response) return;
      await Bun.sleep(100);
    }
    console.error(`[local] the simulator did not come up at ${url}`);
    await stop(1);
  }

  const defaultUrl = process.env.DEFAULT_PROCESSOR_URL;
  const fallbackUrl = process.env.FALLBACK_PROCESSOR_URL;
  const env: Record<string, string> = {};
  if (!defaultUrl || !fallbackUrl) {
    const defaultPort = process.env.SIM_DEFAULT_PORT ?? '8001';
    const fallbackPort = process.env.SIM_FALLBACK_PORT ?? '8002';
    console.log(`[local] no processor URLs configured: starting the simulator on :${defaultPort} and :${fallbackPort}`);
    const simulator = start('simulator', ['tools/simulator/main.ts'], { SIM_DEFAULT_PORT: defaultPort, SIM_FALLBACK_PORT: fallbackPort });
    await waitUntilServing(simulator, `http://127.0.0.1:${defaultPort}`);
    env.DEFAULT_PROCESSOR_URL = `http://127.0.0.1:${defaultPort}`;
    env.FALLBACK_PROCESSOR_URL = `http://127.0.0.1:${fallbackPort}`;
  }
  start('gateway', ['src/gateway/main.ts'], env);
}
