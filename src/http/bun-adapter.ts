import type { Server } from 'bun';
import { BODY_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, type GatewayRoutes, type Reply } from './routes.ts';

/** Serves the gateway's routes with Bun.serve (uWebSockets in native code). */
export interface Listen {
  port: number;
  hostname: string;
  socketPath: string | null;
  maxBodyBytes: number;
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const ROUTES: Record<string, string> = { '/payments': 'POST', '/payments-summary': 'GET', '/purge-payments': 'POST', '/health': 'GET' };

function toResponse(reply: Reply): Response {
  if (reply.retryAfter === undefined) return new Response(reply.body, { status: reply.status, headers: JSON_HEADERS });
  return new Response(reply.body, { status: reply.status, headers: { ...JSON_HEADERS, 'retry-after': String(reply.retryAfter) } });
}

/** A JSON body, or none declared: anything else is refused before it is read. */
function acceptableContentType(request: Request): boolean {
  const type = request.headers.get('content-type');
  return type === null || type === 'application/json' || type.toLowerCase().startsWith('application/json');
}

export function serveWithBun(routes: GatewayRoutes, listen: Listen): Server<undefined> {
  const tooLarge = toResponse(BODY_TOO_LARGE(listen.maxBodyBytes));
  const where = listen.socketPath !== null ? { unix: listen.socketPath } : { port: listen.port, hostname: listen.hostname };
  return Bun.serve({
    ...where,
    maxRequestBodySize: listen.maxBodyBytes,
    routes: {
      '/payments': {
        POST: async (request) => {
          if (!acceptableContentType(request)) return toResponse(UNSUPPORTED_MEDIA_TYPE);
          const declared = Number(request.headers.get('content-length') ?? 0);
          if (declared > listen.maxBodyBytes) return tooLarge.clone();
          return toResponse(routes.acceptPayment(await request.bytes()));
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
    },
    fetch(request) {
      const path = new URL(request.url).pathname;
      const allowed = ROUTES[path];
      if (allowed !== undefined) {
        return new Response(routes.methodNotAllowed(request.method, path, allowed).body, { status: 405, headers: { ...JSON_HEADERS, allow: allowed } });
      }
      return toResponse(routes.notFound(request.method, path));
    },
    error(error) {
      return toResponse({ status: 500, body: JSON.stringify({ error: `internal error: ${error.message}` }) });
    },
  });
}
