// Builds the page served at /ui/ into dist/ui: one bundle (Preact + uPlot), no CDN.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const out = new URL('../dist/ui/', import.meta.url);
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [new URL('./main.tsx', import.meta.url).pathname],
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outfile: new URL('app.js', out).pathname,
  logLevel: 'warning',
});
const css = readFileSync(new URL('./style.css', import.meta.url), 'utf8') + readFileSync(new URL('../node_modules/uplot/dist/uPlot.min.css', import.meta.url), 'utf8');
writeFileSync(new URL('app.css', out), css);
copyFileSync(new URL('./index.html', import.meta.url), new URL('index.html', out));
if (process.argv.includes('--size')) {
  for (const f of ['app.js', 'app.css', 'index.html']) {
    const buf = readFileSync(new URL(f, out));
    console.log(`${f}: ${statSync(new URL(f, out)).size} bytes, ${gzipSync(buf).length} gzipped`);
  }
}
