import { describe, expect, it } from 'vitest';
import { openApiDocument } from '../../api/app';

type Op = { operationId: string; security?: Record<string, string[]>[]; requestBody?: { required: boolean } } & Record<
  string,
  any
>;

describe('the OpenAPI document built from the route declarations', () => {
  const doc = openApiDocument() as { paths: Record<string, Record<string, Op>>; components: Record<string, any> };
  const allOps = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ path, method, op })),
  );

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
  it('names a declared security scheme on every authenticated operation, one per credential', () => {
    const schemes = doc.components.securitySchemes as Record<string, { type: string; in?: string; name?: string }>;
    expect(Object.keys(schemes).sort()).toEqual(
      [
        'adminSession',
        'agentSecret',
        'apiKey',
        'githubOidc',
        'launcherKey',
        'measurementSignature',
        'stripeSignature',
      ].sort(),
    );
    for (const { path, method, op } of allOps) {
      for (const req of op.security ?? []) {
        for (const name of Object.keys(req)) expect(schemes[name], `${method} ${path}: ${name}`).toBeDefined();
      }
    }
    const security = (method: string, path: string) => doc.paths[path]![method]!.security;
    expect(security('post', '/api/v1/launchers/capacity/orders/claim')).toEqual([{ launcherKey: [] }]);
    expect(security('post', '/api/v1/webhooks/stripe')).toEqual([{ stripeSignature: [] }]);
    expect(security('post', '/api/v1/agents/{agent_id}/heartbeat')).toEqual([{ agentSecret: [] }]);
    // The measurer callback is not anonymous: a body signature, or a measurer agent's secret.
    expect(security('post', '/api/v1/internal/measurement-callback')).toEqual([
      { measurementSignature: [] },
      { agentSecret: [] },
    ]);
    expect(schemes.measurementSignature).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'X-Measurement-Signature',
    });
    // An operation with a credential declares the 401 its guard answers.
    for (const { path, method, op } of allOps) {
      if (op.security?.length) expect(op.responses['401'], `${method} ${path}`).toBeDefined();
    }
  });

  it('marks a request body required exactly when its schema refuses an absent body', () => {
    expect(doc.paths['/api/v1/admin/billing/runs']!.post!.requestBody!.required).toBe(false);
    expect(doc.paths['/api/v1/accounts']!.post!.requestBody!.required).toBe(true);
    expect(doc.paths['/admin/login']!.post!.requestBody!.required).toBe(true);
  });
});
