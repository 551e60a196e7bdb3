/**
 * Simulator extension (not part of the real processors): faults applied to the
 * answer of POST /payments AFTER the insert step (200 or 422), so the client sees
 * a broken answer although the processor did its work and the payment IS recorded.
 */
export const FAULTS = ['none', 'reset', 'garbage', 'hang', 'status-503'] as const;
export type Fault = (typeof FAULTS)[number];

export function isFault(value: unknown): value is Fault {
  return typeof value === 'string' && (FAULTS as readonly string[]).includes(value);
}

/** The answer the client gets instead of `answer` under `fault`. */
export function applyFault(fault: Fault, answer: Response, request: Request): Response | Promise<Response> {
  switch (fault) {
    case 'none':
      return answer;
    case 'reset':
      // Bun.serve aborts the connection (RST, zero bytes written) when the body
      // stream is already errored before the head is sent; an error of
      // `undefined` keeps Bun from logging it. Checked by test/simulator.test.ts.
      return new Response(
        new ReadableStream({
          start(controller) {
            controller.error();
          },
        }),
      );
    case 'garbage':
      return new Response('{"message": "payment proc', { status: 200, headers: { 'content-type': 'application/json' } });
    case 'hang':
      // Never answer; settle only once the client is gone, to free the slot.
      return new Promise((resolve) => {
        if (request.signal.aborted) resolve(answer);
        else request.signal.addEventListener('abort', () => resolve(answer), { once: true });
      });
    case 'status-503':
      return Response.json({ message: 'service unavailable' }, { status: 503 });
  }
}
