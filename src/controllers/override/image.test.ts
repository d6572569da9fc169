import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatImage, parseImage, type ImageRef } from './image.ts';

test('parseImage table, and formatImage round-trips', () => {
  const sha = 'sha256:' + 'a'.repeat(64);
  const table: Array<[string, ImageRef]> = [
    ['nginx', { registry: '', repository: 'nginx', tag: '', digest: '' }],
    ['nginx:1.27', { registry: '', repository: 'nginx', tag: '1.27', digest: '' }],
    ['library/nginx:1.27', { registry: '', repository: 'library/nginx', tag: '1.27', digest: '' }],
    ['docker.io/library/nginx', { registry: 'docker.io', repository: 'library/nginx', tag: '', digest: '' }],
    ['ghcr.io/org/app:v2', { registry: 'ghcr.io', repository: 'org/app', tag: 'v2', digest: '' }],
    ['localhost:5000/app:dev', { registry: 'localhost:5000', repository: 'app', tag: 'dev', digest: '' }],
    ['localhost/app', { registry: 'localhost', repository: 'app', tag: '', digest: '' }],
    [`quay.io/app@${sha}`, { registry: 'quay.io', repository: 'app', tag: '', digest: sha }],
    [`quay.io/app:v1@${sha}`, { registry: 'quay.io', repository: 'app', tag: 'v1', digest: sha }],
    ['registry:5000/a/b', { registry: 'registry:5000', repository: 'a/b', tag: '', digest: '' }],
  ];
  for (const [image, want] of table) {
    assert.deepEqual(parseImage(image), want, image);
    assert.equal(formatImage(parseImage(image)), image, `${image} round-trips`);
  }
});
