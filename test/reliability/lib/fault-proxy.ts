/**
 * An HTTP proxy in front of one simulated processor that breaks what the simulator's own faults
 * cannot: requests lost BEFORE they reach the processor (never recorded, answer lost), and broken
 * GET /payments/{id} lookups and service-health answers. Runs in the test process on 127.0.0.1.
 */
export type PaymentMode =
  /** Pass through. */
  | 'forward'
  /** Do not forward; reset the connection (the payment is NOT recorded, the caller cannot know). */
  | 'drop'
  /** Forward (the payment IS recorded), then reset the connection instead of answering. */
  | 'forward-then-reset';
export type LookupMode = 'forward' | 'garbage' | 'reset' | 'status-500';
export type HealthMode = 'forward' | 'garbage';

export interface FaultProxy {
  url: string;
  payments: PaymentMode;
  lookups: LookupMode;
  health: HealthMode;
  readonly counts: Record<string, number>;
  stop(): void;
}

/** A response Bun turns into a connection reset: its body stream is already errored. */
function resetResponse(): Response {
  return new Response(
    new ReadableStream({
      start(controller) {
        controller.error();
      },
    }),
  );
}

export function startFaultProxy(target: string): FaultProxy {
  const counts: Record<string, number> = {};
  const count = (what: string) => {
    counts[what] = (counts[what] ?? 0) + 1;
  };
  const forward = async (request: Request, url: URL): Promise<Response> => {
    const upstream = await fetch(`${target}${url.pathname}${url.search}`, {
      method: request.method,
      headers: { 'content-type': request.headers.get('content-type') ?? 'application/json' },
      body: request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer(),
    });
    return new Response(await upstream.arrayBuffer(), {
      status: upstream.status,
      headers: { 'content-type': upstream.headers.get('content-type') ?? 'application/json' },
    });
  };
  const proxy: FaultProxy = {
    url: '',
    payments: 'forward',
    lookups: 'forward',
    health: 'forward',
    counts,
    stop: () => server.stop(true),
  };
  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(request) {
      const url = new URL(request.url);
      if (url.pathname === '/payments' && request.method === 'POST') {
        const mode = proxy.payments;
        count(`payment ${mode}`);
        if (mode === 'drop') {
          await request.arrayBuffer();
          return resetResponse();
        }
        const answer = await forward(request, url);
        return mode === 'forward-then-reset' ? resetResponse() : answer;
      }
      if (url.pathname === '/payments/service-health') {
        count(`health ${proxy.health}`);
        if (proxy.health === 'garbage') return new Response('{"failing": fal', { headers: { 'content-type': 'application/json' } });
        return forward(request, url);
      }
      if (url.pathname.startsWith('/payments/') && request.method === 'GET') {
        const mode = proxy.lookups;
        count(`lookup ${mode}`);
        if (mode === 'garbage') return new Response('{"correlationId": "', { headers: { 'content-type': 'application/json' } });
        if (mode === 'reset') return resetResponse();
        if (mode === 'status-500') return Response.json({ message: 'lookup unavailable' }, { status: 500 });
        return forward(request, url);
      }
      return forward(request, url);
    },
  });
  proxy.url = `http://127.0.0.1:${server.port}`;
  return proxy;
}
