// Builds the dashboard into ui/dist: one bundled, minified ES module (Preact included), the
// stylesheet and index.html. `--if-stale` skips the build when ui/dist is newer than every
// input, so `npm test` and `meridian demo` can call it on every run at the cost of a stat().
import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ui = fileURLToPath(new URL('.', import.meta.url));
const dist = join(ui, 'dist');
const stamp = join(dist, '.built');
const inputs = [
  join(ui, 'src'),
  join(ui, 'index.html'),
  join(ui, 'build.ts'),
  join(ui, '..', 'package-lock.json'),
];

/** Newest modification time under `path` (a file or a directory tree). */
async function newest(path: string): Promise<number> {
  const s = await stat(path);
  if (!s.isDirectory()) return s.mtimeMs;
  let max = s.mtimeMs;
  for (const e of await readdir(path)) max = Math.max(max, await newest(join(path, e)));
  return max;
}

async function stale(): Promise<boolean> {
  const built = await stat(stamp).then(
    (s) => s.mtimeMs,
    () => -1,
  );
  if (built < 0) return true;
  for (const p of inputs) if ((await newest(p)) > built) return true;
  return false;
}

export async function buildUi(opts: { ifStale?: boolean } = {}): Promise<'built' | 'fresh'> {
  if (opts.ifStale && !(await stale())) return 'fresh';
  await rm(dist, { recursive: true, force: true });
  await mkdir(join(dist, 'assets'), { recursive: true });
  await build({
    entryPoints: [join(ui, 'src', 'main.tsx')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: 'es2022',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    sourcemap: 'linked',
    outfile: join(dist, 'assets', 'app.js'),
    logLevel: 'warning',
  });
  await copyFile(join(ui, 'src', 'style.css'), join(dist, 'assets', 'style.css'));
  await copyFile(join(ui, 'index.html'), join(dist, 'index.html'));
  await writeFile(stamp, `${new Date().toISOString()}\n`);
  return 'built';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const t0 = performance.now();
  const r = await buildUi({ ifStale: process.argv.includes('--if-stale') });
  process.stderr.write(
    r === 'fresh' ? 'ui/dist is up to date\n' : `ui/dist built in ${Math.round(performance.now() - t0)} ms\n`,
  );
}
