/**
 * Writes Meridian's CRDs (built from the schemas in src/api/) to deploy/crds/, one file
 * per kind, removing stale files. Run: node scripts/gen-crds.ts
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCrds, crdFileName, renderCrd } from '../src/api/crds.ts';

const dir = join(import.meta.dirname, '..', 'deploy', 'crds');
mkdirSync(dir, { recursive: true });
const crds = buildCrds();
const names = new Set(crds.map(crdFileName));
for (const file of readdirSync(dir)) {
  if (file.endsWith('.yaml') && !names.has(file)) rmSync(join(dir, file));
}
for (const crd of crds) writeFileSync(join(dir, crdFileName(crd)), renderCrd(crd));
console.log(`wrote ${crds.length} CRDs to ${dir}`);
