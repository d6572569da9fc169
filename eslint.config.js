// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Imports flow one way: api ← kube ← controllers|gateway|agent|storage ← cli (STYLE.md §1);
 * tunnel (the stream multiplexer) sits on kube and is used by gateway and agent; work (the Work
 * applier) sits on kube and is shared by controllers (push mode) and agent (pull mode); dashboard
 * sits beside controllers and gateway (the gateway mounts it through a callback, not an import).
 */
const layers = {
  'src/api/**': [
    'kube',
    'tunnel',
    'work',
    'controllers',
    'gateway',
    'agent',
    'storage',
    'cli',
    'testenv',
    'dashboard',
  ],
  'src/kube/**': [
    'tunnel',
    'work',
    'controllers',
    'gateway',
    'agent',
    'storage',
    'cli',
    'testenv',
    'dashboard',
  ],
  'src/tunnel/**': ['work', 'controllers', 'gateway', 'agent', 'storage', 'cli', 'testenv', 'dashboard'],
  'src/work/**': ['tunnel', 'controllers', 'gateway', 'agent', 'storage', 'cli', 'testenv', 'dashboard'],
  'src/controllers/**': ['gateway', 'agent', 'cli', 'dashboard'],
  'src/gateway/**': ['controllers', 'agent', 'cli', 'dashboard'],
  'src/agent/**': ['controllers', 'gateway', 'cli'],
  'src/storage/**': ['work', 'controllers', 'gateway', 'agent', 'cli'],
  'src/testenv/**': ['controllers', 'gateway', 'agent', 'storage', 'cli', 'dashboard'],
  'src/dashboard/**': ['controllers', 'gateway', 'agent', 'storage', 'cli', 'testenv'],
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'ui/dist/**', 'bench/results/**', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests assert shapes they just checked; `!` there reads better than a guard per line.
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  ...Object.entries(layers).map(([files, forbidden]) => ({
    files: [files],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: forbidden.map((layer) => ({
            group: [`**/${layer}/**`, `../${layer}/**`],
            message: `the ${files.split('/')[1]} layer must not import from ${layer} (see STYLE.md §1)`,
          })),
        },
      ],
    },
  })),
);
