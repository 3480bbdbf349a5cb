// src/generated/openapi.ts from docs/openapi.json (the document `make openapi` generates from the
// server's own routes and models), with openapi-typescript. --check exits 1 when the committed file
// differs from a fresh generation, so a server change that is not carried into the client fails
// `make test` instead of drifting silently.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import openapiTS, { astToString } from 'openapi-typescript';

const spec = new URL('../../../docs/openapi.json', import.meta.url);
const target = new URL('../src/generated/openapi.ts', import.meta.url);
const HEADER = `// Generated from docs/openapi.json by clients/draft-session/scripts/gen-types.mjs
// (openapi-typescript). Do not edit: run \`make client-types\` after \`make openapi\`.\n\n`;

const ast = await openapiTS(draftSessionOnly(JSON.parse(await readFile(spec, 'utf8'))), { alphabetize: true });
const fresh = HEADER + astToString(ast);

/**
 * The document names every path `/<function>/...` as `make dev` serves them; the client talks to
 * draft_session's own Function URL. Keep that function's paths, without the prefix, and only the
 * schemas they reach, so the package carries no purge or cleanup types.
 */
function draftSessionOnly(doc) {
  const PREFIX = '/draft_session';
  const paths = Object.fromEntries(Object.entries(doc.paths)
    .filter(([path]) => path.startsWith(`${PREFIX}/`))
    .map(([path, item]) => [path.slice(PREFIX.length), item]));
  const all = doc.components?.schemas ?? {};
  const kept = new Set();
  const visit = (node) => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (!node || typeof node !== 'object') return;
    const ref = typeof node.$ref === 'string' && node.$ref.match(/^#\/components\/schemas\/(.+)$/);
    if (ref && !kept.has(ref[1])) {
      kept.add(ref[1]);
      visit(all[ref[1]]);
    }
    Object.values(node).forEach(visit);
  };
  visit(paths);
  const schemas = Object.fromEntries(Object.entries(all).filter(([name]) => kept.has(name)));
  return { ...doc, paths, servers: undefined, components: { ...doc.components, schemas } };
}

if (process.argv.includes('--check')) {
  const current = await readFile(target, 'utf8').catch(() => '');
  if (current !== fresh) {
    console.error(`${fileURLToPath(target)} is stale against docs/openapi.json: run \`make client-types\`.`);
    process.exit(1);
  }
  console.log('client types match docs/openapi.json');
} else {
  await writeFile(target, fresh);
  console.log(`wrote ${fileURLToPath(target)}`);
}
