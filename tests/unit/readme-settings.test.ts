import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderSettingsTable, replaceTable } from '../../scripts/settings-table';

describe('README configuration table', () => {
  it('matches the settings registry (run `npm run docs:settings` to regenerate)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(replaceTable(readme, renderSettingsTable())).toBe(readme);
  });
});
