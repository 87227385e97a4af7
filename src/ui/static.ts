import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from 'koa';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

/** dist/ui, built by `npm run build` (esbuild, web/): seen from src/ui (tsx) and from dist/src/ui. */
function assetDir(): string | undefined {
  for (const rel of ['../../dist/ui/', '../../ui/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  return undefined;
}

let dir: string | undefined;

/** The page at /ui/: local files only (no CDN). The data it shows comes from /api, under auth. */
export async function serveStatic(ctx: Context): Promise<boolean> {
  if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return false;
  if (ctx.path === '/ui') {
    ctx.redirect('/ui/');
    return true;
  }
  dir ??= assetDir();
  if (!dir) {
    ctx.status = 503;
    ctx.body = { error: 'ui_not_built', detail: 'the page is built by `npm run build` (dist/ui); the API under /api/alerts works without it' };
    return true;
  }
  const rel = ctx.path.slice('/ui/'.length) || 'index.html';
  const file = normalize(`${dir}${rel}`);
  if (!file.startsWith(dir) || file.includes(`${sep}..${sep}`) || !TYPES[extname(file)]) {
    ctx.status = 404;
    ctx.body = { error: 'not_found', detail: ctx.path };
    return true;
  }
  try {
    ctx.body = await readFile(file);
    ctx.type = TYPES[extname(file)]!;
    ctx.set('Cache-Control', rel === 'index.html' ? 'no-cache' : 'max-age=300');
    ctx.set('Content-Security-Policy', "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:");
    ctx.set('X-Content-Type-Options', 'nosniff');
  } catch {
    ctx.status = 404;
    ctx.body = { error: 'not_found', detail: ctx.path };
  }
  return true;
}
