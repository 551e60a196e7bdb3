import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Journal file names. Each writer (the HTTP thread's `accepted`, each payment worker's
 * `worker-N`) is a stream of segment files `<stream>.<seq>.jnl`; it writes only the newest, and
 * starts the next once that one holds `segmentBytes`. `base.jnl` holds the compacted state.
 * `accepted.jnl` and `worker-N.jnl` (no seq) are files of the unsegmented journal: read and
 * folded like closed segments, never written again.
 */
export const BASE_FILE = 'base.jnl';
export const BASE_TEMPORARY = `${BASE_FILE}.tmp`;

export interface Segment {
  path: string;
  stream: string;
  /** 0 for an unsegmented file. */
  seq: number;
  bytes: number;
}

const SEGMENT_NAME = /^(.+?)(?:\.(\d+))?\.jnl$/;

/** The stream a writer path names: `dir/worker-1.jnl` is the stream `worker-1` in `dir`. */
export function streamOf(path: string): { dir: string; stream: string } {
  return { dir: dirname(path), stream: basename(path).replace(/\.jnl$/, '') };
}

export const segmentPath = (dir: string, stream: string, seq: number) => join(dir, `${stream}.${seq}.jnl`);

/** Every segment (and unsegmented file) in `dir`, the base excluded. */
export function listSegments(dir: string): Segment[] {
  if (!existsSync(dir)) return [];
  const segments: Segment[] = [];
  for (const name of readdirSync(dir)) {
    const match = SEGMENT_NAME.exec(name);
    if (match === null || name === BASE_FILE) continue;
    const path = join(dir, name);
    let bytes: number;
    try {
      bytes = statSync(path).size;
    } catch {
      continue; // removed since readdir (compaction, purge)
    }
    segments.push({ path, stream: match[1], seq: match[2] === undefined ? 0 : Number(match[2]), bytes });
  }
  return segments;
}

/** Paths of every journal file in `dir`, base included. */
export function journalFiles(dir: string): string[] {
  const files = listSegments(dir).map((segment) => segment.path);
  if (existsSync(join(dir, BASE_FILE))) files.push(join(dir, BASE_FILE));
  return files;
}
