import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../api/app';
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

  it('links list operations to the item operations they feed', () => {
    const doc = openApiDocument() as { paths: Record<string, Record<string, any>> };
    const ops = new Map(
      Object.values(doc.paths).flatMap((item) => Object.values(item).map((op) => [op.operationId as string, op])),
    );
    const link = (path: string, name: string) => doc.paths[path]!.get.responses['200'].links[name];
    expect(link('/api/v1/agents', 'GetAgent')).toEqual({
      operationId: 'getApiV1AgentsAgentId',
      parameters: { agent_id: '$response.body#/agents/0/agent_id' },
      description: 'The first agent listed',
    });
    expect(link('/api/v1/deployments', 'GetDeployment').parameters).toEqual({
      deployment_id: '$response.body#/deployments/0/deployment_id',
    });
    expect(link('/api/v1/accounts', 'GetAccount').operationId).toBe('getApiV1AccountsAccountId');
    expect(link('/api/v1/apps', 'GetApp').parameters).toEqual({ name: '$response.body#/apps/0/name' });
    // Every link names an operation of the document and only parameters that operation has.
    for (const item of Object.values(doc.paths)) {
      for (const op of Object.values(item)) {
        for (const res of Object.values(op.responses as Record<string, any>)) {
          for (const l of Object.values((res.links ?? {}) as Record<string, any>)) {
            const target = ops.get(l.operationId);
            expect(target, l.operationId).toBeDefined();
            const names = (target.parameters as { name: string }[]).map((p) => p.name);
            for (const p of Object.keys(l.parameters)) expect(names, `${l.operationId} ${p}`).toContain(p);
          }
        }
      }
    }
  });
});
