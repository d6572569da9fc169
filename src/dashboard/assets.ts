/**
 * The built UI (ui/dist), read into memory once: a handful of small files, served with
 * content types, a strict Content-Security-Policy and no caching of index.html (asset names
 * are stable, so the page revalidates them with ETags instead).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEFAULT_ASSETS_DIR = fileURLToPath(new URL('../../ui/dist', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** Headers on every dashboard response: the page loads only its own scripts and talks only to its origin. */
export const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
} as const;

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile() && !e.name.startsWith('.')) out.push(p);
  }
  return out;
}

export class Assets {
  readonly #files: Map<string, Asset>;
  readonly #missing: string | undefined;

  private constructor(files: Map<string, Asset>, missing: string | undefined) {
    this.#files = files;
    this.#missing = missing;
  }

  /** Loads `dir`; a missing build is not fatal — the page says how to build it. */
  static async load(dir: string = DEFAULT_ASSETS_DIR): Promise<Assets> {
    let paths: string[];
    try {
      paths = await walk(dir);
    } catch {
      return new Assets(new Map(), `the dashboard UI is not built (${dir} is missing): run npm run build:ui`);
    }
    const files = new Map<string, Asset>();
    for (const p of paths) {
      const body = await readFile(p);
      files.set(relative(dir, p).split('\\').join('/'), {
        body,
        type: TYPES[extname(p)] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
      });
    }
    if (!files.has('index.html'))
      return new Assets(files, `the dashboard UI build in ${dir} has no index.html`);
    return new Assets(files, undefined);
  }

  /** Serves `path` (relative to the dashboard root; '' is the page) or answers 404. */
  serve(path: string, req: IncomingMessage, res: ServerResponse): void {
    if (this.#missing !== undefined) {
      res
        .writeHead(503, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' })
        .end(`${this.#missing}\n`);
      return;
    }
    const asset = this.#files.get(path === '' ? 'index.html' : path);
    if (asset === undefined) {
      res
        .writeHead(404, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' })
        .end('not found\n');
      return;
    }
    const headers = {
      ...SECURITY_HEADERS,
      'Content-Type': asset.type,
      ETag: asset.etag,
      'Cache-Control': 'no-cache',
    };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }
}
