/**
 * Every boundary the system has, in one path:
 *   `ee launch` (the launcher, with a fake QEMU whose "guest" runs the real agent from source with the config it
 *   decoded from the kernel cmdline)
 *   → the agent attests (fake configfs-tsm, fake Intel Trust Authority) and registers with the control plane
 *     (real Temporal + worker + API, fake Cloudflare), starts cloudflared (fake) with its tunnel token
 *   → an admin assigns the agent to the tenant's GitHub owner
 *   → the deploy action's committed bundle runs as GitHub would run it: it mints an OIDC token from the fake
 *     GitHub's Actions token service (ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN), POSTs /api/v1/deploy, and polls
 *   → the deployment workflow pushes to the agent, which runs `docker compose up -d` (fake docker, which starts a
 *     tiny HTTP workload) and calls back
 *   → the service URL the action printed reaches the workload through /proxy/<service>/ on the control plane and
 *     the agent's reverse proxy.
 * Each hop is logged with an `[e2e hop n]` prefix.
 *
 * The agent attests as `tdx` (fake TSM + ITA), not `--local`: insecure-local agents are `unverified-dev` and never
 * placeable on this branch; with fake hardware the agent is verified like a real one and the test crosses the
 * attestation boundary too.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeBins, type FakeBins } from '../fakes/bin';
import { startFakeGithub, type FakeGithub } from '../fakes/github';
import { startFakeTsm, type FakeTsm } from '../fakes/tsm-kernel';
import { runActionBundle } from '../helpers/actions';
import { MRTD, RTMRS, setSetting, startAgentWorld, type AgentWorld } from '../helpers/agents';
import { freePort, ROOT } from '../helpers/embedded';
import { launcherEnv, type LauncherEnv } from '../launcher/helpers';

const VM = 'ee-tiny-e2e0001';
const hop = (n: number, text: string) => console.log(`[e2e hop ${n}] ${text}`);

async function waitFor<T>(what: string, fn: () => Promise<T> | T, ok: (v: T) => boolean, ms = 60_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('GitHub Actions deploy across every boundary', () => {
  let w: AgentWorld;
  let gh: FakeGithub;
  let tsm: FakeTsm;
  let bins: FakeBins;
  let t: LauncherEnv;
  let tmp: string;

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'gh-deploy-e2e-'));
    gh = await startFakeGithub();
    w = await startAgentWorld({
      env: {
        GITHUB_OIDC_JWKS_URL: gh.jwksUrl,
        NONCE_ENFORCEMENT_MODE: 'required',
        DEPLOY_CALLBACK_TIMEOUT_SECONDS: '60',
      },
    });
    tsm = startFakeTsm({ mrtd: MRTD, rtmrs: RTMRS, version: 5 });
    bins = createFakeBins();
    t = launcherEnv();
  });
  afterAll(async () => {
    if (t) {
      await t.run(['rm', 'all']);
      t.close();
    }
    bins?.close();
    tsm?.close();
    await w?.close();
    await gh?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('ee launch → agent registers → the deploy action deploys with OIDC → the workload answers through /proxy/', async () => {
    const workloadPort = await freePort();
    bins.serveWorkload(workloadPort);
    t.qemu.bootAgent({
      command: [process.execPath, '--import', 'tsx', join(ROOT, 'agent/main.ts')],
      cwd: ROOT,
      env: { PATH: bins.path, HOME: tmp },
      image: {
        ita_api_url: `${w.ita.url}/appraisal/v1`,
        tsm_report_dir: tsm.root,
        data_dir: join(tmp, 'data'),
        workload_dir: join(tmp, 'workload'),
        listen_host: '127.0.0.1',
        workload_port: workloadPort,
        heartbeat_interval: 5,
        retry_initial_seconds: 0.2,
        retry_max_seconds: 1,
        health_timeout_seconds: 30,
      },
    });

    const launched = await t.run([
      'launch',
      t.image,
      '--name',
      VM,
      '--cp-url',
      w.stack.url,
      '--datacenter',
      'baremetal:e2e',
      '--intel-api-key',
      w.ita.apiKey,
      '--json',
    ]);
    expect(launched.code, launched.stderr).toBe(0);
    const rec = launched.json<{ name: string; agent_port: number; pid: number }>();
    hop(
      1,
      `ee launch booted ${rec.name} (QEMU pid ${rec.pid}); its agent API is forwarded to 127.0.0.1:${rec.agent_port}`,
    );
    // The CP reaches the agent the way the launcher exposes it (in production: the Cloudflare tunnel hostname).
    await setSetting(w, 'operational.agent_direct_url', `http://127.0.0.1:${rec.agent_port}`);

    const serial = () => readFileSync(join(t.env.EE_STATE_DIR!, 'vms', VM, 'serial.log'), 'utf8');
    const agentRow = () => w.stack.db('agents').where({ vm_name: VM }).first();
    const registered = await waitFor('the agent to register', agentRow, (r) => r !== undefined, 90_000).catch((e) => {
      throw new Error(`${(e as Error).message}\nserial log:\n${serial()}`);
    });
    expect(serial()).toContain('fake-guest: config {"mode":"agent","node_size":"tiny"');
    expect(registered).toMatchObject({
      status: 'undeployed',
      mrtd: MRTD,
      datacenter: 'baremetal:e2e',
      node_size: 'tiny',
    });
    expect(Boolean(registered.verified)).toBe(true);
    hop(
      2,
      `agent ${registered.agent_id} attested (TDX quote → ITA token) and registered; verified, tunnel ${registered.hostname}`,
    );
    const cloudflared = await waitFor(
      'cloudflared',
      () => bins.calls('cloudflared'),
      (c) => c.length >= 1,
    );
    expect(cloudflared[0]!.env.TUNNEL_TOKEN).toBe(w.cf.tunnels()[0]!.token);

    const owned = await w.api.patch(`/api/v1/agents/${registered.agent_id}/owner`, {
      token: w.admin,
      json: { github_owner: 'octo-org' },
    });
    expect(owned.status, owned.text).toBe(200);
    // The sweep reads the agent through operational.agent_direct_url (settings are cached up to 5 s).
    const swept = await waitFor(
      'a healthy sweep',
      async () => {
        await w.stack.client.workflow.execute('agentHealthSweep', {
          taskQueue: w.stack.taskQueue,
          workflowId: `sweep-e2e-${Date.now()}`,
          args: [],
        });
        return (await agentRow()).health_status as string;
      },
      (h) => h === 'healthy',
      30_000,
    ).catch((e) => {
      throw new Error(`${(e as Error).message}\nserial log:\n${serial()}`);
    });
    expect(swept).toBe('healthy');
    hop(3, `admin assigned the agent to GitHub owner octo-org; health sweep: healthy`);

    const workspace = join(tmp, 'repo');
    mkdirSync(workspace, { recursive: true });
    writeFileSync(
      join(workspace, 'docker-compose.yml'),
      'services:\n  web:\n    image: ghcr.io/octo-org/web@sha256:' + 'cd'.repeat(32) + '\n',
    );
    const job = gh.actionsJob({ repository: 'octo-org/web', repository_owner: 'octo-org' });
    hop(
      4,
      'running .github/actions/deploy/dist/index.mjs as the GitHub runner would (OIDC from the fake token service)',
    );
    const r = await runActionBundle(
      'deploy',
      {
        control_plane_url: w.stack.url,
        compose_file: 'docker-compose.yml',
        app_name: 'tenant-web',
        node_size: 'tiny',
        allowed_clouds: 'baremetal',
        poll_seconds: '1',
        timeout_seconds: '90',
      },
      {
        job,
        workspace,
        log: (line) =>
          console.log(`[e2e hop 4]   action: ${line.startsWith('::add-mask::') ? '::add-mask::***' : line}`),
      },
    );
    expect(r.code, `${r.stdout}\n${r.stderr}\nserial:\n${serial()}`).toBe(0);
    expect(job.minted).toHaveLength(1);
    expect(r.outputs).toMatchObject({ agent_id: registered.agent_id, status: 'running' });
    const up = bins.calls('docker').find((c) => c.argv.includes('up'))!;
    expect(up.compose).toContain(`image: ghcr.io/octo-org/web@sha256:${'cd'.repeat(32)}`);
    hop(5, `deployment ${r.outputs.deployment_id} running: the agent ran docker compose up -d and called back`);

    const url = r.outputs.service_url!;
    expect(url).toBe(`${w.stack.url}/proxy/tenant-web/`);
    expect(r.stdout).toContain(`Service URL: ${url}`);
    const res = await waitFor(
      'the workload through the proxy',
      async () => {
        const x = await fetch(`${url}hello?from=e2e`);
        return { status: x.status, text: await x.text() };
      },
      (x) => x.status === 200,
      30_000,
    );
    expect(res.text).toBe('hello from the tenant workload: GET /hello?from=e2e');
    hop(6, `GET ${url}hello?from=e2e → ${res.status} "${res.text}" (CP /proxy → agent reverse proxy → workload)`);
  });
});
