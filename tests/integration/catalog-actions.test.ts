/**
 * The register-app and publish actions' committed bundles against the real control plane and a real OCI registry
 * (Debian's docker-registry), authenticated with OIDC tokens from the fake GitHub's Actions token service:
 * register-app is idempotent; publish waits for the measurement and fails the step with the rejection reason.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeGithub, type FakeGithub } from '../fakes/github';
import { runActionBundle } from '../helpers/actions';
import { startRegistry, type TestRegistry } from '../helpers/oci-registry';
import { startStack, type Stack } from '../helpers/stack';

describe('register-app and publish actions', () => {
  let stack: Stack;
  let gh: FakeGithub;
  let registry: TestRegistry;
  let workspace: string;

  beforeAll(async () => {
    gh = await startFakeGithub();
    registry = await startRegistry();
    stack = await startStack({
      env: { GITHUB_OIDC_JWKS_URL: gh.jwksUrl, OCI_INSECURE_REGISTRIES: registry.host, BILLING_ENABLED: 'false' },
    });
    workspace = mkdtempSync(join(tmpdir(), 'catalog-actions-ws-'));
  });
  afterAll(async () => {
    await stack?.close();
    await registry?.stop();
    await gh?.close();
    if (workspace) rmSync(workspace, { recursive: true, force: true });
  });

  const job = () => gh.actionsJob({ repository: 'octo-org/web', repository_owner: 'octo-org' });
  const run = (name: 'register-app' | 'publish', inputs: Record<string, string>, env: Record<string, string> = {}) =>
    runActionBundle(name, { control_plane_url: stack.url, ...inputs }, { job: job(), workspace, env });

  it('register-app registers once and then finds the same app; the OIDC repository owner maintains it', async () => {
    const first = await run('register-app', { name: 'web', description: 'a web app', tags: 'demo, web' });
    expect(first.code, first.stdout).toBe(0);
    expect(first.outputs.created).toBe('true');
    const again = await run('register-app', { name: 'web' });
    expect(again.code, again.stdout).toBe(0);
    expect(again.outputs).toMatchObject({ created: 'false', app_id: first.outputs.app_id });
    const app = (await (await fetch(`${stack.url}/api/v1/apps/web`)).json()) as any;
    expect(app).toMatchObject({ source_repo: 'octo-org/app', tags: ['demo', 'web'] });
    expect(app.maintainers).toContain('octo-org');
  });

  it('publish on a tag uses the tag as the version and waits until the measurement publishes it', async () => {
    await registry.push('octo/web', '1.0');
    writeFileSync(
      join(workspace, 'docker-compose.yml'),
      `services:\n  web:\n    image: ${registry.host}/octo/web:1.0\n`,
    );
    const r = await run(
      'publish',
      { app_name: 'web', poll_seconds: '1' },
      { GITHUB_REF: 'refs/tags/v1.0.0', GITHUB_REF_NAME: 'v1.0.0' },
    );
    expect(r.code, r.stdout).toBe(0);
    expect(r.outputs).toMatchObject({ version: 'v1.0.0', status: 'published', rejection_reason: '' });
    expect(r.summary).toContain('| web | v1.0.0 | published |');
    const v = (await (await fetch(`${stack.url}/api/v1/apps/web/versions/v1.0.0`)).json()) as any;
    expect(v.source_tag).toBe('v1.0.0');
    expect(Buffer.from(v.pinned_compose, 'base64').toString()).toMatch(/@sha256:[0-9a-f]{64}/);

    // Versions are immutable: the same version again fails the step, unless on_conflict asks for a suffix.
    const dup = await run('publish', { app_name: 'web', version: 'v1.0.0', poll_seconds: '1' });
    expect(dup.code).toBe(1);
    expect(dup.errors[0]).toMatch(/answered 409: Version 'v1\.0\.0' already exists for app 'web'/);
    const suffixed = await run('publish', {
      app_name: 'web',
      version: 'v1.0.0',
      on_conflict: 'suffix',
      poll_seconds: '1',
    });
    expect(suffixed.code, suffixed.stdout).toBe(0);
    expect(suffixed.outputs.version).toMatch(/^v1\.0\.0-\d{14}$/);
  });

  it('publish fails the step with the rejection reason when an image cannot be resolved', async () => {
    writeFileSync(join(workspace, 'missing.yml'), `services:\n  web:\n    image: ${registry.host}/octo/absent:9\n`);
    const r = await run('publish', { app_name: 'web', version: '9.0', compose_file: 'missing.yml', poll_seconds: '1' });
    expect(r.code, r.stdout).toBe(1);
    expect(r.outputs.status).toBe('rejected');
    expect(r.outputs.rejection_reason).toBeTruthy();
    expect(r.errors).toEqual([`web@9.0 was rejected by its measurement: ${r.outputs.rejection_reason}`]);
    expect(r.stdout).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });

  it('publish off a tag without a version input fails before calling the control plane', async () => {
    const r = await run('publish', { app_name: 'web' });
    expect(r.code).toBe(1);
    expect(r.errors).toEqual(['version is required when not running on a tag']);
  });
});
