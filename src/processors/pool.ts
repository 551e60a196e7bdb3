import type { Exchanged } from './client.ts';
import { Connection, Exchange, type ConnectionOwner, type ConnectionSettings } from './connection.ts';

/**
 * Up to `max` connections to one origin, one exchange in flight on each.
 *
 *   request ─▶ idle connection? (last in, first out: the hot ones stay warm, the rest age out)
 *          └─▶ fewer than `max` connections? a new one (written once connected)
 *          └─▶ the queue, first in first out, until a connection is released or closed
 *
 * A queued request waits at most `timeoutMs` (the caller's patience) and is then rejected,
 * never sent; once written, its own `timeoutMs` starts (connection.ts), so time spent queued
 * never shortens the wait for the processor's answer.
 */
const QUEUE_TIMEOUT: Exchanged = { error: 'timeout', written: false, timedOut: false };
const CLOSED: Exchanged = { error: 'client closed', written: false, timedOut: false };

function onQueueTimeout(exchange: Exchange): void {
  exchange.timer = null;
  exchange.finish(QUEUE_TIMEOUT); // dequeue() skips it
}

export class Pool implements ConnectionOwner {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private queue: Exchange[] = [];
  private queueHead = 0;
  private closing = false;
  private drained: (() => void) | null = null;

  constructor(
    private readonly settings: ConnectionSettings,
    private readonly max: number,
  ) {}

  request(bytes: Buffer, keepBody: boolean): Promise<Exchanged> {
    if (this.closing) return Promise.resolve(CLOSED);
    return new Promise((report) => this.dispatch(new Exchange(bytes, keepBody, report)));
  }

  private dispatch(exchange: Exchange): void {
    const now = performance.now();
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (conn.reusable(now)) {
        conn.start(exchange);
        return;
      }
      conn.destroy();
    }
    if (this.all.size < this.max) {
      this.all.add(new Connection(this, this.settings, exchange));
      return;
    }
    exchange.deadline = now + this.settings.timeoutMs;
    exchange.timer = setTimeout(onQueueTimeout, this.settings.timeoutMs, exchange);
    this.queue.push(exchange);
  }

  /**
   * The oldest queued exchange still waiting, its queue timer stopped. One past its deadline whose
   * timer has not fired yet (timers due together fire in turn) ends unsent here.
   */
  private dequeue(): Exchange | null {
    while (this.queueHead < this.queue.length) {
      const exchange = this.queue[this.queueHead++]!;
      if (!exchange.done && performance.now() >= exchange.deadline) exchange.finish(QUEUE_TIMEOUT);
      if (exchange.done) continue;
      clearTimeout(exchange.timer!);
      exchange.timer = null;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      return exchange;
    }
    this.queue = [];
    this.queueHead = 0;
    return null;
  }

  release(conn: Connection): void {
    const next = this.dequeue();
    if (next !== null) {
      conn.start(next);
      return;
    }
    if (this.closing) {
      conn.destroy();
      return;
    }
    conn.idleSince = performance.now();
    this.idle.push(conn);
  }

  closed(conn: Connection): void {
    this.all.delete(conn);
    const index = this.idle.indexOf(conn);
    if (index >= 0) this.idle.splice(index, 1);
    if (this.all.size < this.max) {
      const next = this.dequeue();
      if (next !== null) this.all.add(new Connection(this, this.settings, next));
    }
    if (this.closing && this.all.size === 0 && this.drained !== null) {
      this.drained();
      this.drained = null;
    }
  }

  /** Lets queued and in-flight exchanges finish, then closes every socket. */
  close(): Promise<void> {
    this.closing = true;
    for (const conn of this.idle.splice(0)) conn.destroy();
    if (this.all.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.drained;
      this.drained = () => {
        previous?.();
        resolve();
      };
    });
  }
}
