import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../api/app';

type Param = { name: string; in: string; required: boolean; schema: Record<string, unknown> };
type Op = { parameters: Param[]; responses: Record<string, any> };

const LISTS: [path: string, field: string][] = [
  ['/api/v1/agents', 'agents'],
  ['/api/v1/me/agents', 'agents'],
  ['/api/v1/deployments', 'deployments'],
  ['/api/v1/accounts', 'accounts'],
  ['/api/v1/accounts/{account_id}/transactions', 'transactions'],
  ['/api/v1/apps', 'apps'],
  ['/api/v1/admin/agents/capacity/orders', 'orders'],
  ['/api/v1/accounts/{account_id}/capacity/orders', 'orders'],
];

describe('the OpenAPI document declares pagination and conditional GETs', () => {
  const doc = openApiDocument() as { paths: Record<string, Record<string, Op>> };

  it.each(LISTS)('%s: optional limit and cursor, next_cursor in the answer, 304', (path, field) => {
    const op = doc.paths[path]!.get!;
    const byName = new Map(op.parameters.map((p) => [p.name, p]));
    expect(byName.get('limit')).toMatchObject({ in: 'query', required: false, schema: { type: 'integer' } });
    expect(byName.get('cursor')).toMatchObject({
      in: 'query',
      required: false,
      schema: { type: 'string', maxLength: 512 },
    });
    const body = op.responses['200'].content['application/json'].schema;
    expect(body.properties.next_cursor).toMatchObject({ type: 'string', nullable: true });
    expect(body.required).toEqual(expect.arrayContaining([field, 'total']));
    expect(body.required).not.toContain('next_cursor');
    expect(op.responses['304']).toMatchObject({ description: expect.stringMatching(/If-None-Match/) });
    expect(op.responses['304'].content).toBeUndefined();
  });

  it('limit bounds: 1-500, except the v1 bounds deployments and transactions keep', () => {
    const limit = (path: string) => doc.paths[path]!.get!.parameters.find((p) => p.name === 'limit')!.schema;
    expect(limit('/api/v1/agents')).toMatchObject({ minimum: 1, maximum: 500 });
    expect(limit('/api/v1/deployments')).toMatchObject({ minimum: 1, maximum: 1000 });
    expect(limit('/api/v1/accounts/{account_id}/transactions')).toMatchObject({ maximum: 200 });
  });

  it('the hot single-item reads declare 304 too', () => {
    expect(doc.paths['/api/v1/agents/{agent_id}']!.get!.responses['304']).toBeDefined();
    expect(doc.paths['/api/v1/deployments/{deployment_id}']!.get!.responses['304']).toBeDefined();
  });
});
