// `npm pack` must ship what package.json promises: every `exports` target, `types`, the README.
// Run after the build (make node-check): a target missing from the tarball fails here, not in the
// front-end developer's app.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';

const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'));
const [report] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
  cwd: new URL('..', import.meta.url), encoding: 'utf8',
}));
const packed = new Set(report.files.map((f) => f.path));
const targets = Object.values(pkg.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)));
const promised = [...targets, pkg.types, pkg.main, 'README.md'].map((p) => p.replace(/^\.\//, ''));
const missing = promised.filter((p) => !packed.has(p));
if (missing.length) {
  console.error(`npm pack would leave out ${missing.join(', ')}: run the build (make node-build) or fix "files".`);
  process.exit(1);
}
if (Object.keys(pkg.dependencies ?? {}).length) {
  console.error(`the package must have no runtime dependencies, found: ${Object.keys(pkg.dependencies).join(', ')}`);
  process.exit(1);
}
console.log(`npm pack: ${report.filename}, ${report.files.length} files, every export present`);
