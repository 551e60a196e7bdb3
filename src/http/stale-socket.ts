import { existsSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';

/**
 * A process killed with SIGKILL leaves its unix socket file behind, and listening on it then
 * fails with EADDRINUSE. Removes the file when nothing answers on it; refuses to start (throws)
 * when another process is really listening there.
 */
export async function removeStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw new Error(`another process is listening on ${path}`);
  unlinkSync(path);
}
