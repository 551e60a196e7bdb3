/**
 * Bundles the Node entry of the gateway (uWebSockets.js) and its two worker entries for Node:
 *   bun tools/build-node.ts            →  dist/node/main-node.js, payment-worker.js, health-worker.js
 *   node dist/node/main-node.js
 * Kept external (resolved from node_modules at run time): the uWS package (a native addon) and
 * undici, imported as 'undici/index.js', which on Node resolves to the package's own index.js
 * (undici has no "exports" map), not to Bun's built-in stub.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dir, '..');
const outdir = join(root, 'dist/node');

rmSync(outdir, { recursive: true, force: true });
const result = await Bun.build({
  entrypoints: ['src/gateway/main-node.ts', 'src/settlement/payment-worker.ts', 'src/health/health-worker.ts'].map((entry) => join(root, entry)),
  outdir,
  target: 'node',
  format: 'esm',
  naming: '[name].[ext]',
  external: ['@trufflesuite/uws-js-unofficial', 'undici', 'undici/*'],
  sourcemap: 'linked',
});
if (!result.success) {
  for (const message of result.logs) console.error(message);
  process.exit(1);
}
// The bundles are ES modules wherever dist/node is copied to, whatever package.json is above it.
writeFileSync(join(outdir, 'package.json'), '{ "type": "module" }\n');

// What Node will load for the externals, from dist/node.
const require = createRequire(join(outdir, 'main-node.js'));
for (const specifier of ['undici/index.js', '@trufflesuite/uws-js-unofficial']) {
  try {
    require.resolve(specifier);
  } catch {
    console.error(`build-node: ${specifier} does not resolve from ${outdir}: run npm install`);
    process.exit(1);
  }
}
for (const output of result.outputs.filter((o) => o.kind === 'entry-point'))
  console.log(`build-node: ${output.path.slice(root.length + 1)} (${Math.round(output.size / 1024)} KiB)`);
