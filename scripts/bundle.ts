// Bundles the `meridian` command into one ES module, dist/cli/main.mjs: what the container
// images run. Node runs the TypeScript sources directly too, but a process started from the
// sources carries the type stripper and one module record per file: a bundled agent idles at
// about 110 MB resident against about 180 MB (bench/RESULTS.md, "Tunnel", run F). The bundle
// needs no node_modules at run time, and sits at the sources' depth (dist/cli/ as src/cli/), so
// the paths the code resolves from its own location (deploy/, ui/dist) are the same.
// Usage: node scripts/bundle.ts [--outfile dist/cli/main.mjs]
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
export const BUNDLE = fileURLToPath(new URL('../dist/cli/main.mjs', import.meta.url));

/** Bundles `entry` (default: the `meridian` command) into `outfile`; returns `outfile`. */
export async function bundleCli(outfile = BUNDLE, entry = `${root}src/cli/main.ts`): Promise<string> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node26',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'linked',
    logLevel: 'warning',
    // Some dependencies are CommonJS and call require(); ES modules have no require of their own.
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { outfile: { type: 'string', default: BUNDLE } } });
  process.stdout.write(`${await bundleCli(values.outfile)}\n`);
}
