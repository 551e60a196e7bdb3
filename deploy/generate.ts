/**
 * `bun deploy/generate.ts`: (re)writes the files derived from deploy/topology.ts (the load
 * balancer configurations and docker-compose.yml). `--check` writes nothing and exits 1 when a
 * committed file differs from what would be written (test/deployment checks the same).
 */
import { resolve } from 'node:path';
import { generatedFiles } from './render.ts';

const root = resolve(import.meta.dir, '..');
const check = process.argv.includes('--check');
let stale = 0;
for (const { path, content } of generatedFiles()) {
  const file = Bun.file(resolve(root, path));
  const current = (await file.exists()) ? await file.text() : null;
  if (current === content) {
    console.log(`up to date  ${path}`);
  } else if (check) {
    stale++;
    console.log(`stale       ${path}`);
  } else {
    await Bun.write(file, content);
    console.log(`written     ${path}`);
  }
}
if (stale > 0) {
  console.error(`${stale} generated file(s) differ from deploy/topology.ts: run \`bun deploy/generate.ts\``);
  process.exit(1);
}
