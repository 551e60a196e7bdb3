import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGateway, type GatewayProcess } from '../../support/gateway.ts';

/**
 * startGateway with a journal directory of its own under the system temp dir (the default,
 * .run/journal/port-N in the working tree, could be shared with another run that got the same
 * port and would replay its payments into this test). Removed by `removeJournals`.
 */
const journals: string[] = [];

export function startIsolatedGateway(env: Record<string, string>): Promise<GatewayProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'reliability-journal-'));
  journals.push(dir);
  return startGateway({ JOURNAL_DIR: dir, ...env });
}

export function removeJournals(): void {
  for (const dir of journals.splice(0)) rmSync(dir, { recursive: true, force: true });
}
