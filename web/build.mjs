// Bundles the UI with esbuild into <outdir> (default dist/): assets/app-<hash>.js and .css,
// and index.html (the app shell) pointing at them. Hashed names let the hub serve assets
// with a year of caching; the shell itself is never cached.
import * as esbuild from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { gzipSync } from 'node:zlib';

const flag = process.argv.indexOf('--outdir');
const outdir = flag > 0 ? process.argv[flag + 1] : 'dist';
rmSync(outdir, { recursive: true, force: true });
mkdirSync(join(outdir, 'assets'), { recursive: true });

const result = await esbuild.build({
  entryPoints: { app: 'src/main.tsx' },
  bundle: true,
  minify: true,
  sourcemap: false,
  format: 'esm',
  target: ['es2020'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: '[name]-[hash]',
  outdir: join(outdir, 'assets'),
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs);
const script = outputs.find((o) => o.endsWith('.js'));
const style = outputs.find((o) => o.endsWith('.css'));
const shell = readFileSync('index.html', 'utf8')
  .replace('%SCRIPT%', `/app/assets/${basename(script)}`)
  .replace('%STYLE%', style ? `/app/assets/${basename(style)}` : '');
writeFileSync(join(outdir, 'index.html'), shell);

const sizes = outputs.map((o) => {
  const bytes = readFileSync(o);
  return `${basename(o)} ${(bytes.length / 1024).toFixed(1)} KiB (gzip ${(gzipSync(bytes).length / 1024).toFixed(1)} KiB)`;
});
console.error(`web UI built in ${outdir}: ${sizes.join(', ')}`);
