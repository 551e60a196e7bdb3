import type { Server } from 'bun';
import { BODY_TOO_LARGE, INTERNAL_PURGED, ROUTE_METHODS, UNSUPPORTED_MEDIA_TYPE, type GatewayRoutes, type Listen, type Reply } from './routes.ts';

/** Serves the gateway's routes with Bun.serve (uWebSockets in native code). */

const OVERSIZE_BODY_LIMIT = 1 << 20;
const JSON_HEADERS = { 'content-type': 'application/json' };

function toResponse(reply: Reply): Response {
  if (reply.contentType !== undefined) return new Response(reply.body, { status: reply.status, headers: { 'content-type': reply.contentType } });
  if (reply.retryAfter === undefined) return new Response(reply.body, { status: reply.status, headers: JSON_HEADERS });
  return new Response(reply.body, { status: reply.status, headers: { ...JSON_HEADERS, 'retry-after': String(reply.retryAfter) } });
}

/** A JSON body (`application/json`, with parameters or not), or none declared: anything else is refused unread. */
function acceptableContentType(request: Request): boolean {
  const type = request.headers.get('content-type');
  return type === null || type === 'application/json' || /^application\/json\s*(;|$)/i.test(type);
}

/**
 * The body, or null as soon as it passes `limit` bytes. A declared Content-Length is checked by
 * Bun before this runs; a chunked body is cut off here, without buffering the rest.
 */
async function readBody(request: Request, limit: number): Promise<Uint8Array | null> {
  const declared = request.headers.get('content-length');
  if (declared !== null) {
    if (Number(declared) > limit) return null;
    return request.bytes();
  }
  if (request.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let length = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    length += value.length;
    if (length > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}

export function serveWithBun(routes: GatewayRoutes, listen: Listen): Server<undefined> {
  const tooLarge = toResponse(BODY_TOO_LARGE(listen.maxBodyBytes));
  const where = listen.socketPath !== null ? { unix: listen.socketPath } : { port: listen.port, hostname: listen.hostname };
  return Bun.serve({
    ...where,
    // Bun answers bodies over this limit itself, with an empty 413; below it, ours says why in JSON.
    maxRequestBodySize: Math.max(listen.maxBodyBytes, OVERSIZE_BODY_LIMIT),
    routes: {
      '/payments': {
        POST: async (request) => {
          if (!acceptableContentType(request)) return toResponse(UNSUPPORTED_MEDIA_TYPE);
          const body = await readBody(request, listen.maxBodyBytes);
          if (body === null) return tooLarge.clone();
          const reply = routes.acceptPayment(body);
          return reply instanceof Promise ? reply.then(toResponse) : toResponse(reply);
        },
      },
      '/payments-summary': {
        GET: async (request) => {
          const query = new URL(request.url).searchParams;
          return toResponse(await routes.summary(query.get('from'), query.get('to')));
        },
      },
      '/purge-payments': { POST: async () => toResponse(await routes.purge()) },
      '/health': { GET: () => toResponse(routes.health()) },
      // Between instances of one deployment; the load balancer does not forward /internal/.
      '/internal/totals': {
        GET: (request) => {
          const query = new URL(request.url).searchParams;
          return toResponse(routes.internalTotals(query.get('from'), query.get('to')));
        },
      },
      '/internal/purge': {
        POST: async () => {
          await routes.purgeLocal();
          return toResponse(INTERNAL_PURGED);
        },
      },
      '/internal/health': { GET: () => toResponse(routes.internalHealth()) },
      '/metrics': { GET: () => toResponse(routes.metrics()) },
      '/internal/payments': {
        POST: async (request) => {
          const body = await readBody(request, listen.maxBodyBytes);
          return body === null ? tooLarge.clone() : toResponse(routes.acceptForwarded(body));
        },
      },
    },
    fetch(request) {
      const path = new URL(request.url).pathname;
      const allowed = ROUTE_METHODS[path];
      // A path that only normalises to a route (/x/../payments) missed the route table: unknown.
      if (allowed !== undefined && request.method !== allowed) {
        return new Response(routes.methodNotAllowed(request.method, path, allowed).body, { status: 405, headers: { ...JSON_HEADERS, allow: allowed } });
      }
      return toResponse(routes.notFound(request.method, path));
    },
    error(error) {
      return toResponse({ status: 500, body: JSON.stringify({ error: `internal error: ${error.message}` }) });
    },
  });
}
