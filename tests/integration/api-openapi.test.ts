import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http, startStack, type Stack } from '../helpers/stack';

describe('OpenAPI document and /docs', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack?.close());

  it('serves a valid OpenAPI 3 document listing every implemented endpoint', async () => {
    const res = await http(stack.url).get('/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toMatch(/^3\./);
    await SwaggerParser.validate(structuredClone(doc));

    const expected: [string, string][] = [
      ['get', '/health'],
      ['get', '/api/v1/trusted-mrtds'],
      ['post', '/admin/login'],
      ['post', '/admin/logout'],
      ['get', '/auth/methods'],
      ['get', '/auth/me'],
      ['get', '/api/v1/admin/settings'],
      ['put', '/api/v1/admin/settings/{key}'],
      ['delete', '/api/v1/admin/settings/{key}'],
      ['get', '/api/v1/admin/trusted-mrtds'],
      ['post', '/api/v1/admin/trusted-mrtds'],
      ['delete', '/api/v1/admin/trusted-mrtds/{mrtd}'],
      ['get', '/api/v1/logs/control-plane'],
    ];
    for (const [method, path] of expected) expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();

    const login = doc.paths['/admin/login'].post;
    expect(login.requestBody.content['application/json'].schema).toMatchObject({
      type: 'object',
      required: ['password'],
      properties: { password: { type: 'string' } },
    });
    expect(login.responses['200'].content['application/json'].schema.properties).toHaveProperty('token');
    expect(doc.paths['/api/v1/admin/settings'].get.security).toEqual([{ adminSession: [] }]);
    expect(doc.paths['/api/v1/admin/settings/{key}'].put.parameters[0]).toMatchObject({
      name: 'key',
      in: 'path',
      required: true,
    });
  });

  it('/docs renders Swagger UI from locally served assets', async () => {
    const page = await http(stack.url).get('/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.text).toContain("url: '/openapi.json'");
    for (const asset of page.text.matchAll(/(?:src|href)="(\/docs\/assets\/[^"]+)"/g)) {
      const res = await fetch(`${stack.url}${asset[1]}`);
      expect(res.status, asset[1]).toBe(200);
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(100);
    }
    expect((await http(stack.url).get('/docs/assets/../../package.json')).status).toBe(404);
  });
});
