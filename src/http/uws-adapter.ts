import { STATUS_CODES } from 'node:http';
import uWS from '@trufflesuite/uws-js-unofficial';
import type { HttpRequest, HttpResponse, us_listen_socket, us_socket } from '@trufflesuite/uws-js-unofficial';
import { BODY_TOO_LARGE, INTERNAL_PURGED, ROUTE_METHODS, UNSUPPORTED_MEDIA_TYPE, type GatewayRoutes, type Listen, type Reply } from './routes.ts';

/**
 * Serves the gateway's routes with uWebSockets.js on Node (the `@trufflesuite/uws-js-unofficial`
 * build: the V8 addon cannot load in Bun). Same status codes, headers and bodies as bun-adapter.ts.
 */
export interface UwsServer {
  /** The TCP port listened on (the one chosen when PORT=0); -1 on a unix socket. */
  port: number;
  /** False when the package fell back to its node:http emulation (its binary did not load). */
  native: boolean;
  /** Stops accepting connections; requests on open connections are still answered. */
  stop(): void;
}

/**
 * uSockets binds with SO_REUSEPORT unless told otherwise: a second instance on the same port would
 * start and silently share it. Exclusive, it fails as Bun.serve does. (The package's typings lack
 * this overload of listen, which the binary has.)
 */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;
type ListenWithOptions = (host: string, port: number, options: number, cb: (socket: us_listen_socket | false) => void) => unknown;

const statusLines: string[] = [];
const statusLine = (status: number): string => (statusLines[status] ??= `${status} ${STATUS_CODES[status] ?? 'Unknown'}`);

/**
 * Writes a reply in one corked write (required outside the synchronous part of a handler). As
 * Bun does, a HEAD request gets the headers, the length of the body, and no body.
 */
function send(res: HttpResponse, reply: Reply, allow?: string): void {
  res.cork(() => {
    res.writeStatus(statusLine(reply.status)).writeHeader('content-type', reply.contentType ?? 'application/json');
    if (reply.retryAfter !== undefined) res.writeHeader('retry-after', String(reply.retryAfter));
    if (allow !== undefined) res.writeHeader('allow', allow);
    // (endWithoutBody(length) of this uWS build drops the connection: the length goes in as a header.)
    if (res.head === true) res.writeHeader('content-length', String(Buffer.byteLength(reply.body))).endWithoutBody();
    else res.end(reply.body);
  });
}

type Handler = (res: HttpResponse, req: HttpRequest) => void;

/** A GET route also answers HEAD, as Bun.serve's routes do. */
function headToo(handler: Handler): Handler {
  return (res, req) => {
    res.head = true;
    handler(res, req);
  };
}

/** What Bun.serve's `error` handler answers for an exception in a route. */
const internalError = (error: unknown): Reply => ({
  status: 500,
  body: JSON.stringify({ error: `internal error: ${error instanceof Error ? error.message : String(error)}` }),
});

/** Answers when the route's promise settles, unless the client has gone away by then. */
function sendLater(res: HttpResponse, reply: Promise<Reply>): void {
  let aborted = false;
  res.onAborted(() => (aborted = true));
  reply.then(
    (value) => aborted || send(res, value),
    (error: unknown) => aborted || send(res, internalError(error)),
  );
}

function sendNow(res: HttpResponse, route: () => Reply): void {
  let reply: Reply;
  try {
    reply = route();
  } catch (error) {
    reply = internalError(error);
  }
  send(res, reply);
}

/** A JSON body (`application/json`, with parameters or not), or none declared: anything else is refused unread. */
function acceptableContentType(type: string | null): boolean {
  return type === null || type === 'application/json' || /^application\/json\s*(;|$)/i.test(type);
}

/** The Content-Type header, or null when there is none (uWS gives '' for both absent and empty). */
function contentType(req: HttpRequest): string | null {
  const type = req.getHeader('content-type');
  if (type !== '') return type;
  let present = false;
  req.forEach((key) => {
    present ||= key === 'content-type';
  });
  return present ? '' : null;
}

/** The path as Bun's `new URL(request.url).pathname` gives it (uWS hands over origin-form targets only). */
function normalisedPath(raw: string): string {
  try {
    return new URL(`http://localhost${raw}`).pathname;
  } catch {
    return raw;
  }
}

export function serveWithUws(routes: GatewayRoutes, listen: Listen): UwsServer {
  const limit = listen.maxBodyBytes;
  const tooLarge = BODY_TOO_LARGE(limit);
  const app = uWS.App();

  const answer = (res: HttpResponse, body: Uint8Array, route: (body: Uint8Array) => Reply | Promise<Reply>) => {
    let reply: Reply | Promise<Reply>;
    try {
      reply = route(body);
    } catch (error) {
      reply = internalError(error);
    }
    if (reply instanceof Promise) sendLater(res, reply);
    else send(res, reply);
  };
  const postBody = (path: string, route: (body: Uint8Array) => Reply | Promise<Reply>) =>
    app.post(path, (res, req) => {
      if (!acceptableContentType(contentType(req))) return send(res, UNSUPPORTED_MEDIA_TYPE);
      if (Number(req.getHeader('content-length') || 0) > limit) return send(res, tooLarge);
      // The body arrives after this handler returns, in one or more chunks, each valid only during its callback.
      let done = false;
      let buffer: Uint8Array | null = null;
      let length = 0;
      res.onAborted(() => (done = true));
      res.onData((chunk, isLast) => {
        if (done) return;
        const size = length + chunk.byteLength;
        if (size > limit) {
          done = true;
          return send(res, tooLarge);
        }
        if (isLast && buffer === null) {
          // The whole body in one chunk (the usual case): parsed in place, no copy.
          done = true;
          return answer(res, new Uint8Array(chunk), route);
        }
        buffer ??= new Uint8Array(limit);
        buffer.set(new Uint8Array(chunk), length);
        length = size;
        if (isLast) {
          done = true;
          answer(res, buffer.subarray(0, length), route);
        }
      });
    });
  postBody('/payments', (body) => routes.acceptPayment(body));
  // Between instances of one deployment; the load balancer does not forward /internal/.
  postBody('/internal/payments', (body) => routes.acceptForwarded(body));
  const get: Record<string, Handler> = {
    '/payments-summary': (res, req) => {
      const query = new URLSearchParams(req.getQuery() ?? '');
      sendLater(res, routes.summary(query.get('from'), query.get('to')));
    },
    '/health': (res) => sendNow(res, () => routes.health()),
    // Between instances of one deployment; the load balancer does not forward /internal/.
    '/internal/totals': (res, req) => {
      const query = new URLSearchParams(req.getQuery() ?? '');
      sendNow(res, () => routes.internalTotals(query.get('from'), query.get('to')));
    },
    '/internal/health': (res) => sendNow(res, () => routes.internalHealth()),
    // Each instance's own numbers; the public load balancer does not forward it.
    '/metrics': (res) => sendNow(res, () => routes.metrics()),
  };
  for (const [path, handler] of Object.entries(get)) app.get(path, handler).head(path, headToo(handler));
  app.post('/purge-payments', (res) => sendLater(res, routes.purge()));
  app.post('/internal/purge', (res) =>
    sendLater(
      res,
      routes.purgeLocal().then(() => INTERNAL_PURGED),
    ),
  );

  // Anything the routes above did not take, as Bun.serve's fetch fallback answers it: the path as
  // new URL normalises it, 405 with Allow for a known path and another method, 404 otherwise.
  // (getMethod() of this uWS build lowercases the method in place: only the case-sensitive getter is used.)
  app.any('/*', (res, req) => {
    const method = req.getCaseSensitiveMethod();
    res.head = method === 'HEAD';
    const path = normalisedPath(req.getUrl());
    const allowed = ROUTE_METHODS[path];
    if (allowed !== undefined && method !== allowed) return send(res, routes.methodNotAllowed(method, path, allowed), allowed);
    send(res, routes.notFound(method, path));
  });

  let socket: us_listen_socket | false = false;
  const listened = (listening: us_listen_socket | false) => {
    socket = listening;
  };
  if (listen.socketPath !== null) app.listen_unix(listened, listen.socketPath);
  else (app.listen as unknown as ListenWithOptions).call(app, listen.hostname, listen.port, LIBUS_LISTEN_EXCLUSIVE_PORT, listened);
  // The listen callback runs synchronously; false (or nothing) means the address could not be bound.
  const listening = socket as us_listen_socket | false;
  if (!listening) throw new Error(`uWebSockets.js could not listen on ${listen.socketPath ?? `${listen.hostname}:${listen.port}`}`);
  return {
    port: listen.socketPath !== null ? -1 : uWS.us_socket_local_port(listening as us_socket),
    native: typeof (uWS as { getParts?: unknown }).getParts === 'function',
    stop: () => uWS.us_listen_socket_close(listening),
  };
}
