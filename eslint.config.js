// @ts-check
/**
 * Lint for the whole repository: typescript-eslint's recommended rules, plus the type-aware
 * rules that catch real bugs in this code base (a promise nobody awaits or catches, a promise
 * where a boolean or a void callback is expected, `await` on a non-promise). Type information
 * comes from each workspace's tsconfig.json (the project service), so tests, examples and the
 * bench are checked with the options they compile with. Style is prettier's business, not this.
 */
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['**/dist/**', 'apps/daemon/bundle/**', '**/node_modules/**', '**/.turbo/**'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // Tasks sent to workers as source cannot import at the top: `typeof import('node:fs')` is how they type a require.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-import-type-side-effects': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // Empty blocks are how this code says "ignore" (a busy loop, a swallowed close error).
      'no-empty': ['error', { allowEmptyCatch: true }],
      // A variable a handler reads before its one assignment (installed first on purpose) stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // `interface X extends Y {}` is how a class's type takes declared fields (declaration merging).
      '@typescript-eslint/no-empty-object-type': ['error', { allowInterfaces: 'with-single-extends' }],
    },
  },
  {
    // In no tsconfig: config files, the CLI shim, and the plain .mjs programs tests run. Linted without types.
    files: ['*.js', '**/*.mjs', '**/vitest*.config.ts', 'apps/daemon/bin/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      parserOptions: { projectService: false },
      // The Node globals these programs use (no type check here to know them).
      globals: Object.fromEntries(
        [
          'process',
          'console',
          'Buffer',
          'URL',
          'performance',
          'setTimeout',
          'clearTimeout',
          'setInterval',
          'clearInterval',
          'queueMicrotask',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    // The dashboard's page script: runs in a browser, in no tsconfig (// @ts-check in the file).
    files: ['apps/daemon/dashboard/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      parserOptions: { projectService: false },
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'fetch', 'URLSearchParams', 'setTimeout', 'console', 'uPlot'].map((name) => [name, 'readonly']),
      ),
    },
  },
  {
    files: ['examples/**/*.js', 'bench/**/*.js'],
    rules: {
      // tsc (checkJs) already checks names in the examples and the bench, with Node's types.
      'no-undef': 'off',
    },
  },
);
