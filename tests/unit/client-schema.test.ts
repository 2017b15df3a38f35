import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLIENT_SCHEMA_PATH, generateClientSchema } from '../../scripts/client-schema';

describe('generated TypeScript client (clients/ts/schema.ts)', () => {
  it('is what `npm run gen:client` makes of the current route declarations', async () => {
    const committed = readFileSync(CLIENT_SCHEMA_PATH, 'utf8');
    // On a mismatch: run `npm run gen:client` and commit the result.
    expect(committed === (await generateClientSchema()), 'clients/ts/schema.ts is stale: npm run gen:client').toBe(
      true,
    );
    expect(committed).toContain("'/api/v1/agents/{agent_id}'");
  });
});
