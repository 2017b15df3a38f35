// Lint rules that keep the Temporal split honest: workflows stay deterministic (no Node
// built-ins, no I/O libraries, no activity values), promises are awaited, type-only
// imports are marked as such.
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

// Anchored regex: a gitignore-style group would also match our own ../activities/stripe type import.
const ioModules =
  '^(knex|better-sqlite3|pg|stripe|jose|koa|@koa/router|undici|axios|@google-cloud/.+|@node-rs/.+)(/.*)?$';

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'data/**',
      'dist/**',
      '.github/actions/*/dist/**',
      'coverage/**',
      'tests/fixtures/forbidden-workflows/**',
    ],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: builtinModules
            .flatMap((m) => [m, `node:${m}`])
            .map((name) => ({ name, message: 'Workflows must stay deterministic: no Node built-ins.' })),
          patterns: [
            { regex: ioModules, message: 'Workflows must not do I/O: call an activity.' },
            {
              group: ['@temporalio/client', '@temporalio/worker', '@temporalio/activity'],
              message: 'Workflows import only @temporalio/workflow.',
            },
            {
              regex: '^\\.\\./activities',
              allowTypeImports: true,
              message: 'Import activity *types* only (import type).',
            },
            {
              regex: '^\\.\\./(api|bin|clients)/',
              message: 'Workflows never import the API, process entry points or outside-system clients.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'fetch', message: 'No I/O in workflows.' },
        { name: 'process', message: 'No env in workflows.' },
      ],
    },
  },
  {
    // The API starts workflows and reads; it never runs activity code (docs/design-notes.md, Import arrows).
    files: ['api/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+activities(/|$)',
              message: 'The API starts workflows; outside-system clients it may read through live in clients/.',
            },
          ],
        },
      ],
    },
  },
  {
    // The launcher talks to the control plane over HTTP only, and its logic stays free of React (core vs ui).
    files: ['launcher/**/*.ts', 'launcher/**/*.tsx'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(\\.\\./)+(api|activities|workflows|bin)(/|$)',
              message: 'The launcher reaches the control plane over HTTP only.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['launcher/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['react', 'ink'].map((name) => ({
            name,
            message: 'launcher/core has no React: UI code lives in launcher/ui.',
          })),
          patterns: [
            { regex: '^\\.\\./ui(/|$)', message: 'launcher/core must not import the UI.' },
            {
              regex: '^(\\.\\./)+(api|activities|workflows|bin)(/|$)',
              message: 'The launcher reaches the control plane over HTTP only.',
            },
          ],
        },
      ],
    },
  },
);
