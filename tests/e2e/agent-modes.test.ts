/**
 * The real agent process (the esbuild bundle, run with Node) in its failure paths and its other modes, against the
 * real control plane, the fake ITA, a fake configfs-tsm directory and fake `docker`/`cloudflared`/`systemctl` on PATH:
 *
 * - bad configuration: exit 2 and a message naming the key, one case per key; a bad flag exits 64;
 * - CP down, ITA down, TSM missing: one log line per attempt naming the cause (URL / path), delays growing up to
 *   `retry_max_seconds`, and a registration as soon as the dependency comes up; `registration_max_attempts` → exit 3;
 * - measure mode: `EASYENCLAVE_MEASUREMENTS=<json>` (or `EASYENCLAVE_MEASURE_ERROR=…`) on stdout, then exactly one
 *   `systemctl poweroff`; its config read from a real config-drive ISO;
 * - control-plane bootstrap mode: the CP compose through docker with the pass-through env, cloudflared with the
 *   preset tunnel token, no registration.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeBins, type FakeBins } from '../fakes/bin';
import { startFakeTsm, type FakeTsm } from '../fakes/tsm-kernel';
import { MRTD, RTMRS, countAgents, startAgentWorld, type AgentWorld } from '../helpers/agents';
import { freePort } from '../helpers/embedded';
import { waitFor } from '../helpers/wait';

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

/** A TCP forwarder on `port` to `target` — the dependency "coming up" on the address the agent already retries. */
async function forward(port: number, target: number): Promise<Server> {
  const s = createServer((sock) => {
    const up = connect(target, '127.0.0.1');
    sock.pipe(up).pipe(sock);
    sock.on('error', () => up.destroy());
    up.on('error', () => sock.destroy());
  });
  await new Promise<void>((r) => s.listen(port, '127.0.0.1', () => r()));
  return s;
}

/** The delays of "…; retrying in <n> ms" lines matching `re`, in order. */
function delays(text: string, re: RegExp): number[] {
  return text
    .split('\n')
    .filter((l) => re.test(l))
    .map((l) => Number(/retrying in (\d+) ms/.exec(l)?.[1]));
}

describe('agent process: failure paths and the other modes', () => {
  let w: AgentWorld;
  let tsm: FakeTsm;
  let bins: FakeBins;
  let tmp: string;
  let bundle: string;
  const running: ChildProcess[] = [];
  const forwarders: Server[] = [];

  function run(config: unknown, opts: { args?: string[]; env?: Record<string, string> } = {}): Run {
    const dir = mkdtempSync(join(tmp, 'run-'));
    const env: Record<string, string> = { PATH: bins.path, HOME: dir, ...opts.env };
    if (config !== undefined) {
      const file = join(dir, 'config.json');
      writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
      env.EASYENCLAVE_CONFIG = file;
    }
    const child = spawn(process.execPath, [bundle, ...(opts.args ?? [])], {
      env,
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    // 'close', not 'exit': it fires once stdout/stderr are drained, so the last error line is in `stderr()`.
    const exit = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
    return { child, stdout: () => out, stderr: () => err, exit };
  }

  /** An agent-mode config for this world (fast retries, any free API port). */
  const agentConfig = (vm: string, over: Record<string, unknown> = {}) => ({
    control_plane_url: w.stack.url,
    intel_api_key: w.ita.apiKey,
    ita_api_url: w.ita.url,
    vm_name: vm,
    node_size: 'tiny',
    datacenter: 'gcp:us-central1-a',
    tsm_report_dir: tsm.root,
    data_dir: join(tmp, vm, 'data'),
    workload_dir: join(tmp, vm, 'workload'),
    listen_host: '127.0.0.1',
    admin_port: 0,
    retry_initial_seconds: 0.1,
    retry_max_seconds: 0.4,
    ...over,
  });

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'agent-modes-'));
    bundle = join(tmp, 'ee-agent.mjs');
    await build({
      entryPoints: ['agent/main.ts'],
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      outfile: bundle,
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
      logLevel: 'silent',
    });
    w = await startAgentWorld({ env: { NONCE_ENFORCEMENT_MODE: 'required' } });
    tsm = startFakeTsm({ mrtd: MRTD, rtmrs: RTMRS, version: 4 });
    bins = createFakeBins();
  });

  afterAll(async () => {
    for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const f of forwarders) f.close();
    bins?.close();
    tsm?.close();
    await w?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('bad configuration: exit 2 and a message naming the key, for each missing or invalid key', async () => {
    const ok = agentConfig('bad-config-vm');
    const cases: [name: string, config: unknown, key: string][] = [
      ['intel_api_key missing (tdx agent mode)', { ...ok, intel_api_key: undefined }, 'intel_api_key'],
      ['control_plane_url not http(s)', { ...ok, control_plane_url: 'ftp://cp.example' }, 'control_plane_url'],
      ['ita_api_url not a URL', { ...ok, ita_api_url: 'not a url' }, 'ita_api_url'],
      ['mode unknown', { ...ok, mode: 'proxy' }, 'mode'],
      ['attestation unknown', { ...ok, attestation: 'sgx' }, 'attestation'],
      ['node_size empty', { ...ok, node_size: ' ' }, 'node_size'],
      ['vm_name with a space', { ...ok, vm_name: 'bad name' }, 'vm_name'],
      ['admin_port out of range', { ...ok, admin_port: 70000 }, 'admin_port'],
      ['workload_port 0', { ...ok, workload_port: 0 }, 'workload_port'],
      ['heartbeat_interval 0', { ...ok, heartbeat_interval: 0 }, 'heartbeat_interval'],
      [
        'cp_to_agent_attestation_mode unknown',
        { ...ok, cp_to_agent_attestation_mode: 'strict' },
        'cp_to_agent_attestation_mode',
      ],
      [
        'cp_attestation_challenge_ttl below 30',
        { ...ok, cp_attestation_challenge_ttl: 5 },
        'cp_attestation_challenge_ttl',
      ],
      ['compose_timeout_seconds negative', { ...ok, compose_timeout_seconds: -1 }, 'compose_timeout_seconds'],
      [
        'retry_max_seconds below retry_initial_seconds',
        { ...ok, retry_initial_seconds: 5, retry_max_seconds: 1 },
        'retry_max_seconds',
      ],
      ['registration_max_attempts fractional', { ...ok, registration_max_attempts: 1.5 }, 'registration_max_attempts'],
      ['control_plane_image missing (control-plane mode)', { mode: 'control-plane' }, 'control_plane_image'],
      ['trusted_proxy_mrtds not a list', { ...ok, trusted_proxy_mrtds: 7 }, 'trusted_proxy_mrtds'],
    ];
    const runs = cases.map(([, config]) => run(config));
    const codes = await Promise.all(runs.map((r) => r.exit));
    cases.forEach(([name, , key], i) => {
      expect(codes[i], name).toBe(2);
      const line = runs[i]!.stderr()
        .split('\n')
        .find((l) => l.includes('configuration error'));
      expect(line, `${name}: ${runs[i]!.stderr()}`).toMatch(
        new RegExp(`\\[ERROR\\] configuration error: .*\\b${key}\\b`),
      );
    });
    // A config file that does not parse is named and skipped; the defaults then lack the ITA key.
    const broken = run('{"vm_name": ');
    expect(await broken.exit).toBe(2);
    expect(broken.stderr()).toMatch(/\[WARN\] ignoring config file \S+config\.json: /);
    expect(broken.stderr()).toContain('missing config key intel_api_key');
    // A bad command line is exit 64.
    const flag = run(undefined, { args: ['--mode', 'proxy'] });
    expect(await flag.exit).toBe(64);
    expect(flag.stderr()).toMatch(/option '--mode <mode>' argument 'proxy' is invalid/);
  });

  it('CP down: one line per attempt naming the CP URL, growing backoff, registers once the CP comes up', async () => {
    const port = await freePort();
    const cpUrl = `http://127.0.0.1:${port}`;
    const a = run(agentConfig('cp-down-vm', { control_plane_url: cpUrl }));
    const failed = /registration attempt \d+ failed: control plane \(unreachable\)/;
    await waitFor('four failed attempts', a.stderr, (e) => delays(e, failed).length >= 4);
    const lines = a
      .stderr()
      .split('\n')
      .filter((l) => failed.test(l));
    for (const l of lines) expect(l).toContain(`${cpUrl}/api/v1/agents/challenge`);
    expect(lines[0]).toContain('ECONNREFUSED');
    expect(delays(a.stderr(), failed).slice(0, 4)).toEqual([100, 200, 400, 400]); // doubling, capped at retry_max
    expect(await countAgents(w, 'cp-down-vm')).toBe(0);
    forwarders.push(await forward(port, Number(new URL(w.stack.url).port)));
    await waitFor('registration', a.stderr, (e) => e.includes('registered as agent'));
    expect(await countAgents(w, 'cp-down-vm')).toBe(1);
    expect(a.child.exitCode).toBeNull(); // never exited meanwhile
    a.child.kill('SIGTERM');
    expect(await a.exit).toBe(0);
  });

  it('ITA down: one line per attempt naming the ITA URL, growing backoff, registers once ITA comes up', async () => {
    const port = await freePort();
    const itaUrl = `http://127.0.0.1:${port}`;
    const a = run(agentConfig('ita-down-vm', { ita_api_url: itaUrl }));
    const failed = /registration attempt \d+ failed: attestation \(ita_unreachable\)/;
    await waitFor('three failed attempts', a.stderr, (e) => delays(e, failed).length >= 3);
    for (const l of a
      .stderr()
      .split('\n')
      .filter((x) => failed.test(x))) {
      expect(l).toContain(`Intel Trust Authority unreachable at ${itaUrl}/appraisal/v1/attest`);
    }
    expect(delays(a.stderr(), failed).slice(0, 3)).toEqual([100, 200, 400]);
    // The API key is never in a log line.
    expect(a.stderr()).not.toContain(w.ita.apiKey);
    forwarders.push(await forward(port, Number(new URL(w.ita.url).port)));
    await waitFor('registration', a.stderr, (e) => e.includes('registered as agent'));
    expect(await countAgents(w, 'ita-down-vm')).toBe(1);
    a.child.kill('SIGTERM');
    expect(await a.exit).toBe(0);
  });

  it('TSM missing: the configfs path named on every attempt, retried, registers once the TSM appears', async () => {
    const root = join(tmp, 'late-tsm', 'report');
    const a = run(agentConfig('no-tsm-vm', { tsm_report_dir: root }));
    const failed = /registration attempt \d+ failed: attestation \(tsm_unavailable\)/;
    await waitFor('three failed attempts', a.stderr, (e) => delays(e, failed).length >= 3);
    for (const l of a
      .stderr()
      .split('\n')
      .filter((x) => failed.test(x))) {
      expect(l).toContain(`configfs-tsm not available: ${root} does not exist`);
    }
    expect(delays(a.stderr(), failed).slice(0, 3)).toEqual([100, 200, 400]);
    mkdirSync(root, { recursive: true });
    const late = startFakeTsm({ mrtd: MRTD, rtmrs: RTMRS, root });
    try {
      await waitFor('registration', a.stderr, (e) => e.includes('registered as agent'));
      expect(await countAgents(w, 'no-tsm-vm')).toBe(1);
    } finally {
      late.close();
    }
    a.child.kill('SIGTERM');
    expect(await a.exit).toBe(0);
  });

  it('registration_max_attempts: gives up with exit 3 naming the last cause', async () => {
    const port = await freePort();
    const a = run(
      agentConfig('give-up-vm', { control_plane_url: `http://127.0.0.1:${port}`, registration_max_attempts: 2 }),
    );
    expect(await a.exit).toBe(3);
    expect(a.stderr()).toMatch(
      /\[ERROR\] registration failed 2 times; last: control plane \(unreachable\): .*127\.0\.0\.1/,
    );
  });

  it('measure mode: prints the TSM quote measurements, then powers off exactly once', async () => {
    const before = bins.calls('systemctl').length;
    const seen = tsm.reportData.length;
    const a = run({ mode: 'measure', tsm_report_dir: tsm.root });
    expect(await a.exit).toBe(0);
    const line = a
      .stdout()
      .split('\n')
      .find((l) => l.startsWith('EASYENCLAVE_MEASUREMENTS='));
    expect(line, a.stdout() + a.stderr()).toBeDefined();
    expect(JSON.parse(line!.slice('EASYENCLAVE_MEASUREMENTS='.length))).toEqual({ mrtd: MRTD, ...RTMRS });
    expect(tsm.reportData.slice(seen)).toEqual(['00'.repeat(64)]); // one quote over 64 zero bytes
    expect(
      bins
        .calls('systemctl')
        .slice(before)
        .map((c) => c.argv),
    ).toEqual([['poweroff']]);
  });

  it('measure mode without a TSM: EASYENCLAVE_MEASURE_ERROR naming the path, still powers off once', async () => {
    const before = bins.calls('systemctl').length;
    const missing = join(tmp, 'no-such-tsm');
    const a = run({ mode: 'measure', tsm_report_dir: missing });
    expect(await a.exit).toBe(0);
    expect(a.stdout()).toContain(`EASYENCLAVE_MEASURE_ERROR=configfs-tsm not available: ${missing} does not exist`);
    expect(a.stdout()).not.toContain('EASYENCLAVE_MEASUREMENTS=');
    expect(
      bins
        .calls('systemctl')
        .slice(before)
        .map((c) => c.argv),
    ).toEqual([['poweroff']]);
  });

  it('measure mode configured by a real config-drive ISO (the launcher’s genisoimage flags)', async () => {
    const src = mkdtempSync(join(tmp, 'iso-'));
    writeFileSync(join(src, 'config.json'), JSON.stringify({ mode: 'measure', tsm_report_dir: tsm.root }, null, 2));
    const drive = join(src, 'cidata.iso');
    const g = spawnSync(
      'genisoimage',
      ['-quiet', '-output', drive, '-volid', 'EE_CONFIG', '-joliet', '-rock', 'config.json'],
      { cwd: src, encoding: 'utf8' },
    );
    expect(g.status, g.stderr).toBe(0);
    const a = run(undefined, { env: { EASYENCLAVE_CONFIG_DRIVE: drive } });
    expect(await a.exit).toBe(0);
    expect(a.stderr()).toContain(`config from config drive ${drive}`);
    expect(a.stdout()).toContain(`EASYENCLAVE_MEASUREMENTS={"mrtd":"${MRTD}"`);
  });

  it('control-plane mode: compose pull + up -d with the pass-through env, cloudflared with the preset token, no registration', async () => {
    const dataDir = join(tmp, 'cp-vm');
    const image = `ghcr.io/easyenclave/easyenclave@sha256:${'ef'.repeat(32)}`;
    const tunnelToken = 'preset-cp-tunnel-token-0123456789';
    const dockerBefore = bins.calls('docker').length;
    const cfBefore = bins.calls('cloudflared').length;
    const agentsBefore = await countAgents(w);
    const a = run({
      mode: 'control-plane',
      control_plane_url: w.stack.url,
      control_plane_image: image,
      port: 18080,
      data_dir: dataDir,
      tunnel_token: tunnelToken,
      cloudflare_api_token: 'cf-api-token-for-the-cp',
      stripe_secret_key: 'sk_test_cp',
      easyenclave_domain: 'example.test',
      nonce_ttl_seconds: 300,
      billing_enabled: false,
      retry_initial_seconds: 0.1,
      retry_max_seconds: 0.4,
    });
    const cf = await waitFor(
      'cloudflared',
      () => bins.calls('cloudflared').slice(cfBefore),
      (c) => c.length >= 1,
    );
    expect(cf[0]!.argv).toEqual(['tunnel', '--no-autoupdate', 'run']);
    expect(cf[0]!.env.TUNNEL_TOKEN).toBe(tunnelToken);

    const composeFile = join(dataDir, 'control-plane', 'docker-compose.yml');
    const docker = bins.calls('docker').slice(dockerBefore);
    expect(docker.map((c) => c.argv)).toEqual([
      ['compose', '-f', composeFile, 'pull'],
      ['compose', '-f', composeFile, 'up', '-d'],
    ]);
    const up = docker[1]!;
    expect(up.cwd).toBe(join(dataDir, 'control-plane'));
    expect(up.env).toMatchObject({
      PORT: '18080',
      CLOUDFLARE_API_TOKEN: 'cf-api-token-for-the-cp',
      STRIPE_SECRET_KEY: 'sk_test_cp',
      EASYENCLAVE_DOMAIN: 'example.test',
      NONCE_TTL_SECONDS: '300',
    });
    expect(up.env.BILLING_ENABLED).toBeUndefined(); // false is "not set" (§11.3)
    expect(up.env.TUNNEL_TOKEN).toBeUndefined(); // the tunnel token is cloudflared's, not the container's
    const compose = parse(readFileSync(composeFile, 'utf8')) as {
      services: { easyenclave: { image: string; ports: string[]; environment: string[] } };
    };
    expect(compose.services.easyenclave.image).toBe(image);
    expect(compose.services.easyenclave.ports).toEqual(['18080:8080']);
    // Names only: the values come from the environment compose runs with, never written to disk.
    expect(compose.services.easyenclave.environment).toEqual(
      expect.arrayContaining(['PORT', 'CLOUDFLARE_API_TOKEN', 'STRIPE_SECRET_KEY', 'NONCE_TTL_SECONDS']),
    );
    expect(readFileSync(composeFile, 'utf8')).not.toContain('cf-api-token-for-the-cp');

    expect(a.stderr()).not.toContain('registering');
    expect(a.stderr()).not.toContain(tunnelToken);
    expect(await countAgents(w)).toBe(agentsBefore);
    const pids = bins.cloudflaredPids();
    a.child.kill('SIGTERM');
    expect(await a.exit).toBe(0);
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    await waitFor(
      'cloudflared stopped',
      () => alive(pids.at(-1)!),
      (x) => !x,
      10_000,
    );
  });
});
