// The example's bundle: src/main.tsx with React, react-dom, react-hook-form and the draft-session
// package (its built dist/, through the workspace link), into dist/ next to a copy of index.html.
// React's development build on purpose: its StrictMode mounts every effect twice, and the browser
// tests check that this double mount still opens one draft session.
import { copyFile, mkdir } from 'node:fs/promises';
import { build } from 'esbuild';

const here = (path) => new URL(path, import.meta.url);
await mkdir(here('dist/'), { recursive: true });
await build({
  entryPoints: [here('src/main.tsx').pathname],
  outfile: here('dist/app.js').pathname,
  bundle: true,
  format: 'esm',
  target: 'es2022',
  jsx: 'automatic',
  sourcemap: true,
  define: { 'process.env.NODE_ENV': '"development"' },
  logLevel: 'warning',
});
await copyFile(here('index.html'), here('dist/index.html'));
