import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Type } from 'typebox';
import { buildCrds, crdFileName, renderCrd, type CustomResourceDefinition } from './crds.ts';
import { Kinds, Plurals } from './constants.ts';
import { structuralViolations } from './structural.ts';
import { StringEnum, StringMap, toJson } from './schema.ts';

const crdDir = join(import.meta.dirname, '..', '..', 'deploy', 'crds');
const crds = buildCrds();

test('committed deploy/crds/*.yaml equal the generator output (run: node scripts/gen-crds.ts)', () => {
  const committed = readdirSync(crdDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort();
  assert.deepEqual(committed, crds.map(crdFileName).sort());
  for (const crd of crds) {
    assert.equal(readFileSync(join(crdDir, crdFileName(crd)), 'utf8'), renderCrd(crd), crdFileName(crd));
  }
});

test('one CRD per kind, with plural, scope, short names, category and status subresource', () => {
  assert.deepEqual(crds.map((c) => c.spec.names.kind).sort(), Object.values(Kinds).sort());
  const shortNames = crds.flatMap((c) => c.spec.names.shortNames);
  assert.equal(new Set(shortNames).size, shortNames.length, 'short names are unique');
  for (const want of ['pp', 'cpp', 'op', 'cop', 'rb', 'crb']) assert.ok(shortNames.includes(want), want);
  for (const crd of crds) {
    const kind = crd.spec.names.kind as keyof typeof Plurals;
    assert.equal(crd.metadata.name, `${Plurals[kind]}.meridian.dev`);
    assert.equal(crd.spec.scope, kind.startsWith('Cluster') ? 'Cluster' : 'Namespaced', kind);
    const [version] = crd.spec.versions;
    assert.ok(version);
    assert.deepEqual(version.subresources, { status: {} });
    assert.ok(
      version.additionalPrinterColumns.some((c) => c.name === 'Age'),
      `${kind} has printer columns`,
    );
    assert.deepEqual(crd.spec.names.categories, ['meridian']);
  }
});

test('every CRD schema is structural', () => {
  for (const crd of crds) {
    const schema = crd.spec.versions[0]?.schema.openAPIV3Schema;
    assert.deepEqual(structuralViolations(schema), [], crd.metadata.name);
    assert.deepEqual((schema?.['properties'] as Record<string, unknown>)['metadata'], { type: 'object' });
  }
});

test('structuralViolations catches what TypeBox emits by default and untyped objects', () => {
  const bad = toJson(
    Type.Object({
      union: Type.Union([Type.Literal('A'), Type.Literal('B')]),
      record: Type.Record(Type.String(), Type.String()),
      nested: Type.Object({ free: Type.Unsafe({ type: 'object' }) }),
      untyped: Type.Unsafe({}),
      list: Type.Array(Type.Object({ k: Type.Optional(Type.String()) }), {
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['k'],
      }),
    }),
  );
  const v = structuralViolations(bad).join('\n');
  assert.match(v, /\.union\.anyOf\[0\]: keyword const is not allowed/);
  assert.match(v, /\.union\.anyOf\[0\]: type must not be set inside anyOf/);
  assert.match(v, /\.record: keyword patternProperties is not allowed/);
  assert.match(v, /\.nested\.free: object has no properties/);
  assert.match(v, /\.untyped: type is required/);
  assert.match(v, /\.list: list-map key k must be required/);
  // …and the helpers the API uses instead are clean.
  assert.deepEqual(structuralViolations(toJson(Type.Object({ e: StringEnum(['A']), m: StringMap() }))), []);
});

/** Every CEL rule in `crd`, with the schema path it sits on. */
function rules(crd: CustomResourceDefinition) {
  const out: Array<{ path: string; rule: string; message: string; fieldPath?: string }> = [];
  const walk = (node: unknown, path: string) => {
    if (typeof node !== 'object' || node === null) return;
    const n = node as Record<string, unknown>;
    for (const r of (n['x-kubernetes-validations'] as typeof out | undefined) ?? []) out.push({ ...r, path });
    for (const [k, child] of Object.entries((n['properties'] as Record<string, unknown>) ?? {}))
      walk(child, `${path}.${k}`);
    if (n['items']) walk(n['items'], `${path}[]`);
  };
  walk(crd.spec.versions[0]?.schema.openAPIV3Schema, '');
  return out;
}

test('CEL rules: messages name the field they report at', () => {
  let count = 0;
  for (const crd of crds) {
    for (const r of rules(crd)) {
      count++;
      assert.ok(r.message.length > 10, `${crd.metadata.name} ${r.path}: message`);
      if (r.fieldPath) {
        const field = r.fieldPath.split('.').at(-1) ?? '';
        assert.ok(r.message.includes(field), `${crd.metadata.name} ${r.path}: "${r.message}" names ${field}`);
      }
    }
  }
  assert.ok(count >= 20, `expected many rules, found ${count}`);
});

test('CEL rules required by the API exist where they belong', () => {
  const byKind = new Map(crds.map((c) => [c.spec.names.kind, rules(c)]));
  const has = (kind: string, path: string, fragment: string) =>
    assert.ok(
      byKind.get(kind)?.some((r) => r.path === path && r.rule.includes(fragment)),
      `${kind} ${path} has a rule with ${fragment}`,
    );
  has('Cluster', '.spec', "self.syncMode != 'Push' || has(self.apiEndpoint)");
  has('PropagationPolicy', '.spec.placement.replicaScheduling', 'has(self.weightPreference)');
  has('PropagationPolicy', '.spec.placement.spreadConstraints[]', 'self.maxGroups >= self.minGroups');
  has('PropagationPolicy', '.spec.placement.clusterAffinity', 'n in self.exclude');
  has('ClusterPropagationPolicy', '.spec.placement.clusterAffinities[]', 'n in self.exclude');
  has('OverridePolicy', '.spec.overrideRules[].overriders.plaintext[].path', "startsWith('/')");
  has('ResourceBinding', '.spec.placement', 'has(self.clusterAffinities)');
});

test('lists under CEL rules are bounded, so the API server can estimate rule cost', () => {
  // An unbounded list above a rule makes the apiserver reject the CRD for exceeding the cost budget.
  for (const crd of crds) {
    const walk = (node: unknown, path: string, unboundedAbove: string | undefined) => {
      if (typeof node !== 'object' || node === null) return;
      const n = node as Record<string, unknown>;
      if (n['x-kubernetes-validations'] && unboundedAbove) {
        assert.fail(`${crd.metadata.name} ${path}: rule under unbounded list ${unboundedAbove}`);
      }
      for (const [k, child] of Object.entries((n['properties'] as Record<string, unknown>) ?? {})) {
        walk(child, `${path}.${k}`, unboundedAbove);
      }
      if (n['items']) walk(n['items'], `${path}[]`, n['maxItems'] === undefined ? path : unboundedAbove);
    };
    walk(crd.spec.versions[0]?.schema.openAPIV3Schema, '', undefined);
  }
});

/** The schema node at `path` (`.a.b`) under `node`, following `properties` only. */
function nodeAt(node: unknown, path: string): Record<string, unknown> | undefined {
  let cur = node as Record<string, unknown> | undefined;
  for (const seg of path.split('.').filter(Boolean)) {
    cur = (cur?.['properties'] as Record<string, Record<string, unknown>> | undefined)?.[seg];
  }
  return cur;
}

test('CEL rules only reference typed, declared fields, and fieldPaths exist', () => {
  // Regressions: a rule reading an untyped (any-JSON) field fails to compile in the API
  // server ("undefined field"), and a fieldPath into metadata is "not a valid path".
  for (const crd of crds) {
    const walk = (node: unknown, path: string) => {
      if (typeof node !== 'object' || node === null) return;
      const n = node as Record<string, unknown>;
      for (const r of (n['x-kubernetes-validations'] as
        Array<{ rule: string; fieldPath?: string }> | undefined) ?? []) {
        for (const [, field] of r.rule.matchAll(/\bself\.([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()/g)) {
          const child = nodeAt(n, `.${field}`);
          const where = `${crd.metadata.name} ${path}: rule ${r.rule}`;
          assert.ok(child, `${where} reads undeclared field ${field}`);
          assert.ok(
            child['type'] !== undefined || child['x-kubernetes-int-or-string'] === true,
            `${where} reads untyped field ${field}`,
          );
        }
        if (r.fieldPath) {
          const target = nodeAt(n, r.fieldPath);
          assert.ok(
            target,
            `${crd.metadata.name} ${path}: fieldPath ${r.fieldPath} must name a declared field`,
          );
        }
      }
      for (const [k, child] of Object.entries((n['properties'] as Record<string, unknown>) ?? {}))
        walk(child, `${path}.${k}`);
      if (n['items']) walk(n['items'], `${path}[]`);
    };
    walk(crd.spec.versions[0]?.schema.openAPIV3Schema, '');
  }
});
