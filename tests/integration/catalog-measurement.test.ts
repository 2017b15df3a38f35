/**
 * The app catalog end to end with real parts: the real Temporal dev server and worker, SQLite, Debian's
 * docker-registry (behind a small gate that adds token auth and faults), the real cosign binary with a generated
 * key pair, and the fake agent for catalog deploys. Each publish starts `measure:<app>:<version>`; the tests wait
 * for its result and check the version row, the workflow history and what the agent received.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { newApiKey } from '../../core/auth/api-keys';
import type { measurementSweep } from '../../workflows/measurement-sweep';
import { seal } from '../../core/auth/seal';
import { startFakeAgent, type FakeAgentServer } from '../fakes/agent';
import { startFakeCloudflare, type FakeCloudflare } from '../fakes/cloudflare';
import { startFakeGithub, type FakeGithub } from '../fakes/github';
import { startRegistryGate, type RegistryGate } from '../fakes/registry-gate';
import { cosignKeys, type CosignKeys } from '../helpers/cosign';
import { recordHistory } from '../helpers/histories';
import { startRegistry, type TestRegistry } from '../helpers/oci-registry';
import { seedAccount, seedAgent, seedAgentSecret } from '../helpers/seed';
import { testEngines } from '../helpers/databases';
import { adminLogin, http, startStack, type Stack } from '../helpers/stack';

const CALLBACK_SECRET = 'measurement-callback-test-secret';

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(ok: () => boolean, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!ok() && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

describe.each(testEngines())('app catalog and version measurement (%s)', (engine) => {
  let stack: Stack;
  let registry: TestRegistry;
  let gate: RegistryGate;
  let keys: CosignKeys;
  let agents: FakeAgentServer;
  let gh: FakeGithub;
  let cf: FakeCloudflare;
  let api: ReturnType<typeof http>;
  let admin: string;
  let deployer: { key: string; accountId: string };
  let stranger: { key: string; accountId: string };

  async function deployerKey(over: Record<string, unknown> = {}) {
    const k = await newApiKey(stack.deps.sealingKey);
    const a = await seedAccount(stack.db, { api_key_hash: k.hash, api_key_prefix: k.prefix, ...over });
    return { key: k.key, accountId: a.account_id };
  }

  async function setSetting(key: string, value: string) {
    const r = await api.put(`/api/v1/admin/settings/${key}`, { token: admin, json: { value } });
    expect(r.status, r.text).toBe(200);
  }

  async function createApp(name: string, token = deployer.key) {
    const r = await api.post('/api/v1/apps', { token, json: { name, description: 'test app' } });
    expect(r.status, r.text).toBe(200);
    return r.body;
  }

  /** Publishes and waits for the measurement workflow; returns the final version row and the workflow id. */
  async function publish(app: string, version: string, compose: string, extra: Record<string, unknown> = {}) {
    const r = await api.post(`/api/v1/apps/${app}/versions`, {
      token: deployer.key,
      json: { version, compose: b64(compose), ...extra },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.body.status).toBe('pending');
    const workflowId = r.body.measurement_workflow_id as string;
    expect(workflowId).toBe(`measure:${app}:${version}${extra.node_size ? `:${extra.node_size}` : ''}`);
    await stack.client.workflow.getHandle(workflowId).result();
    const v = await api.get(`/api/v1/apps/${app}/versions/${version}?node_size=${extra.node_size ?? ''}`);
    expect(v.status).toBe(200);
    return { version: v.body, workflowId };
  }

  async function activityTypes(workflowId: string): Promise<string[]> {
    const h = await stack.client.workflow.getHandle(workflowId).fetchHistory();
    return (h.events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
      .filter((n): n is string => !!n);
  }

  beforeAll(async () => {
    registry = await startRegistry();
    gate = await startRegistryGate(registry.host);
    keys = await cosignKeys();
    agents = await startFakeAgent();
    gh = await startFakeGithub();
    cf = await startFakeCloudflare();
    stack = await startStack({
      engine,
      env: {
        CLOUDFLARE_ACCOUNT_ID: cf.accountId,
        CLOUDFLARE_ZONE_ID: cf.zoneId,
        CLOUDFLARE_API_TOKEN: cf.apiToken,
        CLOUDFLARE_API_URL: cf.url,
        EASYENCLAVE_DOMAIN: cf.zoneName,
        GITHUB_OIDC_JWKS_URL: gh.jwksUrl,
        AGENT_DIRECT_URL: agents.directUrlTemplate,
        DEPLOY_CALLBACK_TIMEOUT_SECONDS: '5',
        BILLING_ENABLED: 'false',
        OCI_INSECURE_REGISTRIES: `${registry.host},${gate.host}`,
        COSIGN_BIN: keys.bin,
        COSIGN_PUBLIC_KEY: keys.publicKey,
        COSIGN_IGNORE_TLOG: 'true',
        MEASUREMENT_CALLBACK_SECRET: CALLBACK_SECRET,
      },
    });
    api = http(stack.url);
    admin = await adminLogin(stack.url);
    deployer = await deployerKey({ github_login: 'alice' });
    stranger = await deployerKey({ github_login: 'mallory' });
  });
  afterAll(async () => {
    await stack?.close();
    await agents?.close();
    await gh?.close();
    await cf?.close();
    await gate?.close();
    await registry?.stop();
    keys?.cleanup();
  });
  beforeEach(async () => {
    gate.requireToken = null;
    await setSetting('operational.signature_verification_mode', 'strict');
    await setSetting('operational.cosign_public_key', keys.publicKey);
    await setSetting('operational.cosign_ignore_tlog', 'true');
  });

  it('creating an app needs a credential; the creator (account and proven login) maintains it; strangers and anonymous callers cannot delete it', async () => {
    const anon = await api.post('/api/v1/apps', { json: { name: 'anon-app' } });
    expect(anon.status).toBe(401);
    expect(anon.body.detail).toBeTruthy();
    const launcher = await deployerKey({ account_type: 'contributor' });
    expect((await api.post('/api/v1/apps', { token: launcher.key, json: { name: 'contrib-app' } })).status).toBe(403);
    expect(await stack.db('apps').whereIn('name', ['anon-app', 'contrib-app']).count({ n: '*' })).toEqual([{ n: 0 }]);

    const app = await createApp('owned-app');
    expect(app.maintainers).toEqual(['alice']);
    expect(app.maintainer_accounts).toEqual([deployer.accountId]);
    expect((await api.post('/api/v1/apps', { token: deployer.key, json: { name: 'owned-app' } })).status).toBe(409);

    const unauth = await api.delete('/api/v1/apps/owned-app');
    expect(unauth.status).toBe(401);
    expect(unauth.body.detail).toBeTruthy();
    const other = await api.delete('/api/v1/apps/owned-app', { token: stranger.key });
    expect(other.status).toBe(403);
    const publishByStranger = await api.post('/api/v1/apps/owned-app/versions', {
      token: stranger.key,
      json: { version: '1', compose: b64('services:\n  a:\n    image: nginx\n') },
    });
    expect(publishByStranger.status).toBe(403);
    expect(await stack.db('apps').where({ name: 'owned-app' }).first()).toBeTruthy();
    expect(await stack.db('app_versions').where({ app_name: 'owned-app' }).first()).toBeUndefined();

    // A GitHub Actions token: repository_owner maintains; the account-less creator can delete it.
    const oidc = await gh.signOidcToken({ repository: 'octo-org/app', repository_owner: 'Octo-Org' });
    const viaOidc = await api.post('/api/v1/apps', { token: oidc, json: { name: 'oidc-app' } });
    expect(viaOidc.status, viaOidc.text).toBe(200);
    expect(viaOidc.body.maintainers).toEqual(['octo-org']);
    expect((await api.delete('/api/v1/apps/oidc-app', { token: oidc })).status).toBe(200);
    // Maintainer changes: only a maintainer (or an admin); a maintainer cannot lock itself out.
    const grab = await api.put('/api/v1/apps/owned-app/maintainers', {
      token: stranger.key,
      json: { maintainers: ['mallory'] },
    });
    expect(grab.status).toBe(403);
    const lockout = await api.put('/api/v1/apps/owned-app/maintainers', {
      token: deployer.key,
      json: { maintainers: ['mallory'], maintainer_accounts: [] },
    });
    expect(lockout.status).toBe(409);
    const add = await api.put('/api/v1/apps/owned-app/maintainers', {
      token: deployer.key,
      json: { maintainers: ['alice', 'Mallory'] },
    });
    expect(add.status, add.text).toBe(200);
    expect(add.body).toMatchObject({ maintainers: ['alice', 'mallory'], maintainer_accounts: [deployer.accountId] });
    expect((await api.delete('/api/v1/apps/owned-app', { token: stranger.key })).status).toBe(200);
    expect(await stack.db('apps').where({ name: 'owned-app' }).first()).toBeUndefined();
    await createApp('admin-deletes');
    expect((await api.delete('/api/v1/apps/admin-deletes', { token: admin })).status).toBe(200);
  });

  it('refuses bad input with a 4xx and writes nothing: non-YAML compose, unparseable image, duplicate version', async () => {
    await createApp('bad-input');
    const notYaml = await api.post('/api/v1/apps/bad-input/versions', {
      token: deployer.key,
      json: { version: '1', compose: b64('services: [unclosed\n  web: {image: nginx') },
    });
    expect(notYaml.status).toBe(422);
    expect(notYaml.body.detail).toMatch(/not valid YAML/);
    const badRef = await api.post('/api/v1/apps/bad-input/versions', {
      token: deployer.key,
      json: { version: '1', compose: b64('services:\n  web:\n    image: "Not A/Valid::Ref"\n') },
    });
    expect(badRef.status).toBe(422);
    expect(badRef.body.detail).toMatch(/service web: image reference 'Not A\/Valid::Ref' cannot be parsed/);
    expect(await stack.db('app_versions').where({ app_name: 'bad-input' }).first()).toBeUndefined();

    const img = await registry.push('team/dup', '1');
    const first = await publish(
      'bad-input',
      '1',
      `services:\n  web:\n    image: ${registry.host}/team/dup@${img.digest}\n`,
    );
    expect(first.version.status).toBe('rejected'); // not signed, strict
    const again = await api.post('/api/v1/apps/bad-input/versions', {
      token: deployer.key,
      json: { version: '1', compose: b64(`services:\n  web:\n    image: ${registry.host}/team/dup:1\n`) },
    });
    expect(again.status).toBe(409);
    expect(await stack.db('app_versions').where({ app_name: 'bad-input' }).count({ n: '*' })).toEqual([{ n: 1 }]);
  });

  it('strict rejects a version naming the unsigned image; warn publishes it with a warning; both digests recorded, one activity per image', async () => {
    const signed = await registry.push('team/web', '1.2');
    const unsigned = await registry.push('team/db', '5');
    await keys.sign(`${registry.host}/team/web@${signed.digest}`);
    const compose =
      `services:\n  web:\n    image: ${registry.host}/team/web:1.2\n    ports: ["8080:8080"]\n` +
      `  db:\n    image: ${registry.host}/team/db:5\n`;
    await createApp('signed-app');

    const strict = await publish('signed-app', '1.0.0', compose);
    expect(strict.version.status).toBe('rejected');
    expect(strict.version.rejection_reason).toMatch(
      new RegExp(`service db: image ${registry.host}/team/db:5 is not signed by the configured cosign key`),
    );
    expect(strict.version.rejection_reason).not.toMatch(/service web/);
    expect(strict.version.rejection_reason).toMatch(/mode=strict, app=signed-app@1\.0\.0/);
    const imgs = strict.version.attestation.resolved_images;
    expect(imgs.web.digest).toBe(signed.digest);
    expect(imgs.web.signature_verified).toBe(true);
    expect(imgs.web.signed_by).toMatch(/^key:sha256:[0-9a-f]{16}$/);
    expect(imgs.db.digest).toBe(unsigned.digest);
    expect(imgs.db.signature_verified).toBe(false);
    const types = await activityTypes(strict.workflowId);
    expect(types.filter((t) => t === 'measureImage')).toHaveLength(2);
    expect(types).toEqual(['planMeasurement', 'measureImage', 'measureImage', 'recordVersionMeasurement']);
    await recordHistory(stack.client, strict.workflowId, 'catalog', 'measure-strict-two-images');

    await setSetting('operational.signature_verification_mode', 'warn');
    const warn = await publish('signed-app', '1.0.1', compose);
    expect(warn.version.status).toBe('published');
    expect(warn.version.rejection_reason).toBeNull();
    expect(warn.version.attestation.signature_warnings).toEqual([
      expect.stringMatching(/^service db: image .*team\/db:5 is not signed/),
    ]);
    expect(warn.version.attestation.resolved_images.web.digest).toBe(signed.digest);
    expect(warn.version.attestation.resolved_images.db.digest).toBe(unsigned.digest);
    expect(unb64(warn.version.pinned_compose)).toContain(`image: ${registry.host}/team/db@${unsigned.digest}`);
  });

  it('answers the bearer-token challenge and follows a multi-arch index to its linux/amd64 manifest', async () => {
    const multi = await registry.push('team/multi', 'v1', { multiArch: true });
    expect(multi.tagDigest).not.toBe(multi.digest);
    await keys.sign(`${registry.host}/team/multi@${multi.digest}`);
    gate.requireToken = `tok-${randomUUID()}`;
    await createApp('multi-app');
    const r = await publish('multi-app', '1', `services:\n  api:\n    image: ${gate.host}/team/multi:v1\n`);
    expect(r.version.status, r.version.rejection_reason).toBe('published');
    expect(r.version.attestation.resolved_images.api).toMatchObject({ digest: multi.digest, platform: 'linux/amd64' });
    expect(gate.tokenRequests.map((q) => q.get('scope'))).toContain('repository:team/multi:pull');
    expect(gate.tokenRequests.map((q) => q.get('service'))).toContain('gate');
  });

  it('a registry answering 500 is retried with backoff, then the version is rejected with the reason', async () => {
    await createApp('flaky-app');
    gate.manifestRequests.length = 0;
    gate.failNext(50, 500);
    const r = await publish('flaky-app', '1', `services:\n  web:\n    image: ${gate.host}/team/web:1.2\n`);
    gate.failNext(0);
    expect(r.version.status).toBe('rejected');
    expect(r.version.rejection_reason).toMatch(/^service web: image .*team\/web:1\.2: registry .* answered 500/);
    expect(r.version.rejection_reason).toMatch(/gave up after retries/);
    expect(gate.manifestRequests).toHaveLength(4); // the activity's 4 attempts
    await recordHistory(stack.client, r.workflowId, 'catalog', 'measure-registry-500');
    expect(r.version.attestation).toBeNull();
  });

  it('a missing image is rejected at once (404 is not retried)', async () => {
    await createApp('missing-app');
    gate.manifestRequests.length = 0;
    const r = await publish('missing-app', '1', `services:\n  web:\n    image: ${gate.host}/team/nope:1\n`);
    expect(r.version.status).toBe('rejected');
    expect(r.version.rejection_reason).toMatch(/service web: .*does not exist on the registry/);
    expect(gate.manifestRequests).toHaveLength(1);
  });

  it('keyless verification fails clearly when the transparency log is unreachable', async () => {
    const img = await registry.push('team/keyless', '1');
    await setSetting('operational.cosign_public_key', ' ');
    await setSetting('operational.cosign_ignore_tlog', 'false');
    await setSetting('operational.cosign_rekor_url', `http://127.0.0.1:${await closedPort()}`);
    await createApp('keyless-app');
    const r = await publish('keyless-app', '1', `services:\n  web:\n    image: ${registry.host}/team/keyless:1\n`);
    expect(r.version.status).toBe('rejected');
    expect(r.version.rejection_reason).toMatch(
      /service web: image .* is not signed by any identity matching .*: transparency log http:\/\/127\.0\.0\.1:\d+ is unreachable .*keyless signatures cannot be verified/,
    );
    expect(r.version.attestation.resolved_images.web.digest).toBe(img.digest);
  });

  it('a deploy of a version sends the pinned digests and applies its ingress; moving the tag afterwards changes nothing', async () => {
    const v1 = await registry.push('team/pinned', 'stable');
    await keys.sign(`${registry.host}/team/pinned@${v1.digest}`);
    await createApp('pinned-app');
    const r = await publish(
      'pinned-app',
      '1.0',
      `services:\n  web:\n    image: ${registry.host}/team/pinned:stable\n`,
      {
        ingress: [{ port: 8080 }, { path: '/admin', port: 9090 }],
      },
    );
    expect(r.version.status).toBe('published');

    const moved = await registry.push('team/pinned', 'stable');
    expect(moved.digest).not.toBe(v1.digest);

    const tunnel = cf.seedTunnel({ name: 'agent-pinned' });
    const a = await seedAgent(stack.db, { github_owner: null, tunnel_id: tunnel.id });
    const secret = await seedAgentSecret(stack.db, a.agent_id);
    await stack
      .db('agent_control_credentials')
      .where({ agent_id: a.agent_id })
      .update({ api_secret_sealed: seal(stack.deps.sealingKey, secret).sealed });
    agents.agent(a.agent_id, { secret, callback: { cpUrl: stack.url, delayMs: 100 } });

    const dep = await api.post('/api/v1/apps/pinned-app/versions/1.0/deploy', { token: deployer.key, json: {} });
    expect(dep.status, dep.text).toBe(202);
    const sent = agents.agent(a.agent_id).deploys;
    await waitFor(() => sent.length > 0);
    expect(sent).toHaveLength(1);
    const compose = unb64(sent[0]!.compose as string);
    expect(compose).toContain(`image: ${registry.host}/team/pinned@${v1.digest}`);
    expect(compose).not.toContain(moved.digest);
    expect(compose).not.toContain(':stable');
    expect(sent[0]!.app_name).toBe('pinned-app');
    // app_versions.ingress went to the agent's tunnel before the push.
    const hostname = `agent-${a.agent_id}.example.com`;
    expect(cf.tunnels().find((t) => t.id === tunnel.id)?.config).toMatchObject({
      ingress: [
        { hostname, service: 'http://localhost:8080' },
        { hostname, service: 'http://localhost:9090', path: '/admin' },
        { service: 'http_status:404' },
      ],
    });

    // A rejected version is refused before anything is placed.
    const bad = await registry.push('team/unsigned', '1');
    const rejected = await publish(
      'pinned-app',
      '2.0',
      `services:\n  web:\n    image: ${registry.host}/team/unsigned@${bad.digest}\n`,
    );
    expect(rejected.version.status).toBe('rejected');
    const refused = await api.post('/api/v1/apps/pinned-app/versions/2.0/deploy', { token: deployer.key, json: {} });
    expect(refused.status).toBe(400);
    expect(refused.body.detail).toMatch(/was rejected/);

    // A size-specific measurement does not run on an agent of another size (api.md §4.4).
    const sized = await publish(
      'pinned-app',
      '3.0',
      `services:\n  web:\n    image: ${registry.host}/team/pinned@${v1.digest}\n`,
      {
        node_size: 'llm',
      },
    );
    expect(sized.version).toMatchObject({ status: 'published', node_size: 'llm' });
    const misfit = await api.post('/api/v1/apps/pinned-app/versions/3.0/deploy', {
      token: deployer.key,
      json: { node_size: 'llm', agent_id: a.agent_id },
    });
    expect(misfit.status).toBe(400);
    expect(misfit.body.detail).toBe(
      "Measurement node_size mismatch for 'pinned-app@3.0': attested 'llm', target agent 'tiny'",
    );
    expect(agents.agent(a.agent_id).deploys).toHaveLength(1);
  });

  it('the measurement callback needs a valid HMAC signature; unauthenticated callers get 401 and change nothing', async () => {
    await setSetting('operational.signature_verification_mode', 'warn');
    await createApp('callback-app');
    // A pending version whose measurement is still to come (the workflow is not running on a stopped worker).
    await stack.stopWorker();
    let versionId = '';
    try {
      const img = await registry.push('team/cb', '1');
      const pub = await api.post('/api/v1/apps/callback-app/versions', {
        token: deployer.key,
        json: { version: '1', compose: b64(`services:\n  web:\n    image: ${registry.host}/team/cb:1\n`) },
      });
      expect(pub.status, pub.text).toBe(200);
      versionId = pub.body.version_id;
      const body = JSON.stringify({
        version_id: versionId,
        status: 'success',
        measurement: {
          resolved_images: {
            web: { original: `${registry.host}/team/cb:1`, digest: img.digest, signature_verified: true },
          },
        },
      });
      const none = await api.post('/api/v1/internal/measurement-callback', { raw: body });
      expect(none.status).toBe(401);
      const wrong = await api.post('/api/v1/internal/measurement-callback', {
        raw: body,
        headers: { 'x-measurement-signature': `sha256=${'0'.repeat(64)}` },
      });
      expect(wrong.status).toBe(401);
      // A control secret counts only for an agent running a measuring enclave.
      const worker = await seedAgent(stack.db, { deployed_app: 'hello' });
      const workerSecret = await seedAgentSecret(stack.db, worker.agent_id);
      const notMeasurer = await api.post('/api/v1/internal/measurement-callback', {
        raw: body,
        token: workerSecret,
        headers: { 'x-agent-id': worker.agent_id },
      });
      expect(notMeasurer.status).toBe(401);
      const measurer = await seedAgent(stack.db, { deployed_app: 'measuring-enclave-tiny' });
      const measurerSecret = await seedAgentSecret(stack.db, measurer.agent_id);
      const badSecret = await api.post('/api/v1/internal/measurement-callback', {
        raw: body,
        token: workerSecret,
        headers: { 'x-agent-id': measurer.agent_id },
      });
      expect(badSecret.status).toBe(401);
      expect((await stack.db('app_versions').where({ version_id: versionId }).first()).status).toBe('pending');

      await stack.startWorker();
      // The measure: workflow may finish first; either way the version ends published and immutable.
      const sig = `sha256=${createHmac('sha256', CALLBACK_SECRET).update(body).digest('hex')}`;
      const ok = await api.post('/api/v1/internal/measurement-callback', {
        raw: body,
        headers: { 'x-measurement-signature': sig },
      });
      expect([200, 409]).toContain(ok.status);
      await stack.client.workflow.getHandle('measure:callback-app:1').result();
      const row = await stack.db('app_versions').where({ version_id: versionId }).first();
      expect(row.status).toBe('published');
      expect(unb64(row.pinned_compose)).toContain(`@${img.digest}`);
      const late = await api.post('/api/v1/internal/measurement-callback', {
        raw: body,
        headers: { 'x-measurement-signature': sig },
      });
      expect(late.status).toBe(409);
      const viaMeasurer = await api.post('/api/v1/internal/measurement-callback', {
        raw: body,
        token: measurerSecret,
        headers: { 'x-agent-id': measurer.agent_id },
      });
      expect(viaMeasurer.status).toBe(409); // authenticated; the version is immutable now
    } finally {
      await stack.startWorker().catch(() => {});
    }
  });

  it('the measurement sweep starts the measurement of a version left pending (its start never happened)', async () => {
    await createApp('sweep-app');
    const img = await registry.push('team/sweep', '1');
    await keys.sign(`${registry.host}/team/sweep@${img.digest}`);
    const versionId = randomUUID();
    await stack.db('app_versions').insert({
      version_id: versionId,
      app_name: 'sweep-app',
      version: '1',
      node_size: '',
      compose: b64(`services:\n  web:\n    image: ${registry.host}/team/sweep:1\n`),
      status: 'pending',
      published_at: new Date(Date.now() - 3600_000).toISOString(),
    });
    const sweep = () =>
      stack.client.workflow.execute<typeof measurementSweep>('measurementSweep', {
        taskQueue: stack.taskQueue,
        workflowId: `measurement-sweep-test-${randomUUID()}`,
        args: [{ olderThanSeconds: 60 }],
      });
    const first = await sweep();
    expect(first).toMatchObject({ started: 1, running: 0 });
    await stack.client.workflow.getHandle('measure:sweep-app:1').result();
    const row = await stack.db('app_versions').where({ version_id: versionId }).first();
    expect(row.status).toBe('published');
    expect(unb64(row.pinned_compose)).toContain(`@${img.digest}`);
    expect((await sweep()).found).toBe(0);
  });

  it('admin attest publishes a version by hand; non-admins get 401/403', async () => {
    await createApp('manual-app');
    const img = await registry.push('team/manual', '1');
    const r = await publish(
      'manual-app',
      '1',
      `services:\n  web:\n    image: ${registry.host}/team/manual@${img.digest}\n`,
    );
    expect(r.version.status).toBe('rejected');
    expect((await api.post('/api/v1/apps/manual-app/versions/1/attest', { token: deployer.key })).status).toBe(401);
    const ok = await api.post('/api/v1/apps/manual-app/versions/1/attest', {
      token: admin,
      json: { mrtd: 'ab'.repeat(48) },
    });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body).toMatchObject({
      status: 'attested',
      version_id: r.version.version_id,
      version_status: 'published',
    });
    const after = await api.get('/api/v1/apps/manual-app/versions/1');
    expect(after.body).toMatchObject({ status: 'published', mrtd: 'ab'.repeat(48) });
  });

  it('v1 SDK reads keep their paths and shapes: list/get apps, get version', async () => {
    await createApp('sdk-app');
    const list = await api.get('/api/v1/apps?name=SDK&tags=');
    expect(list.status).toBe(200);
    expect(list.body.total).toBe(list.body.apps.length);
    const app = list.body.apps.find((a: { name: string }) => a.name === 'sdk-app');
    for (const k of ['app_id', 'name', 'description', 'source_repo', 'maintainers', 'tags', 'created_at']) {
      expect(app).toHaveProperty(k);
    }
    expect((await api.get('/api/v1/apps/nope')).body).toEqual({ detail: 'App not found' });
    expect((await api.get('/api/v1/apps/sdk-app/versions/9')).body).toEqual({ detail: 'Version not found' });
    const img = await registry.push('team/sdk', '1');
    await keys.sign(`${registry.host}/team/sdk@${img.digest}`);
    await publish('sdk-app', '1', `services:\n  web:\n    image: ${registry.host}/team/sdk:1\n`);
    const v = await api.get('/api/v1/apps/sdk-app/versions/1');
    for (const k of [
      'version_id',
      'app_name',
      'version',
      'node_size',
      'compose',
      'image_digest',
      'source_commit',
      'source_tag',
      'mrtd',
      'attestation',
      'ingress',
      'status',
      'rejection_reason',
      'published_at',
    ]) {
      expect(v.body).toHaveProperty(k);
    }
    const versions = await api.get('/api/v1/apps/sdk-app/versions');
    expect(versions.body.total).toBe(1);
  });
});
