/**
 * The OpenAPI document is the contract: runs schemathesis (`--checks all`, examples + coverage + fuzzing phases)
 * against the embedded control plane (`bin/start.ts` on free ports, a throwaway data dir) with an admin session and
 * a seeded account, agent and deployment, and exits with schemathesis' status. Every route the app declares is
 * covered, so new endpoints join automatically.
 *
 *   npx tsx scripts/api-contract.ts [--schemathesis PATH] [-- extra schemathesis args]
 *
 * schemathesis is found at $SCHEMATHESIS_BIN, then ~/.cache/easyenclave/schemathesis/bin/schemathesis, then PATH;
 * scripts/ensure-schemathesis.sh (run by `.ci/run`) installs the pinned version from PyPI into that cache (a venv).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import knex from 'knex';
import { startFakeAgent } from '../tests/fakes/agent';
import { startFakeCloudflare } from '../tests/fakes/cloudflare';
import { startStripeMock } from '../tests/helpers/stripe-mock';
import { ensureTool } from './tools.mjs';
import { freePort } from './free-port.mjs';

const ADMIN_PASSWORD = 'api-contract-password';

function schemathesisBin(): string {
  const flag = process.argv.indexOf('--schemathesis');
  if (flag !== -1 && process.argv[flag + 1]) return process.argv[flag + 1]!;
  if (process.env.SCHEMATHESIS_BIN) return process.env.SCHEMATHESIS_BIN;
  const cache = process.env.EASYENCLAVE_CACHE_DIR ?? join(homedir(), '.cache', 'easyenclave');
  const cached = join(cache, 'schemathesis', 'bin', 'schemathesis');
  if (existsSync(cached)) return cached;
  const onPath = spawnSync('sh', ['-c', 'command -v schemathesis'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return onPath;
  console.error('schemathesis not found: set SCHEMATHESIS_BIN, or install it with scripts/ensure-schemathesis.sh');
  process.exit(2);
}

async function waitUp(child: ChildProcess, output: () => string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!output().includes('control plane is up')) {
    if (child.exitCode !== null) throw new Error(`the control plane exited early:\n${output()}`);
    if (Date.now() > deadline) throw new Error(`the control plane did not come up in ${ms / 1000} s:\n${output()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function seed(dbPath: string, base: string, admin: string): Promise<void> {
  const post = async (path: string, body: unknown, token?: string) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`seed ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as Record<string, unknown>;
  };
  const account = await post('/api/v1/accounts', { name: 'contract-deployer', account_type: 'deployer' });
  await post(`/api/v1/accounts/${String(account.account_id)}/deposit`, { amount: 10 }, admin);
  const db = knex({ client: 'better-sqlite3', connection: { filename: dbPath }, useNullAsDefault: true });
  try {
    const now = new Date().toISOString();
    await db('agents').insert({
      agent_id: '00000000-0000-4000-8000-000000000001',
      vm_name: 'contract-vm',
      status: 'undeployed',
      mrtd: 'a'.repeat(96),
      hostname: 'agent-contract.example.com',
      health_status: 'healthy',
      registered_at: now,
      last_heartbeat: now,
      verified: true,
      node_size: 'tiny',
      datacenter: 'gcp:us-central1-a',
    });
    await db('deployments').insert({
      deployment_id: '00000000-0000-4000-8000-000000000002',
      compose: Buffer.from('services:\n  app:\n    image: nginx\n').toString('base64'),
      config: '{}',
      agent_id: '00000000-0000-4000-8000-000000000001',
      status: 'stopped',
      created_at: now,
      account_id: String(account.account_id),
    });
  } finally {
    await db.destroy();
  }
}

async function main(): Promise<number> {
  const st = schemathesisBin();
  // Integrations are configured (Stripe against stripe-mock, a GitHub OAuth client id, Cloudflare against the local
  // fake): an unconfigured one answers 503 on purpose, which says nothing about the contract.
  const stripe = await startStripeMock();
  const cloudflare = await startFakeCloudflare();
  // The seeded agent's logs and stats are fetched from the agent: a local fake answers for it (an unreachable agent
  // is a documented 502, but schemathesis counts every 5xx as a failure).
  const agent = await startFakeAgent();
  const dataDir = mkdtempSync(join(tmpdir(), 'ee-contract-'));
  const [apiPort, temporalPort, uiPort] = [await freePort(), await freePort(), await freePort()];
  const base = `http://127.0.0.1:${apiPort}`;
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/start.ts'], {
    cwd: new URL('..', import.meta.url).pathname,
    env: {
      ...process.env,
      TEMPORAL_CLI: await ensureTool('temporal', { log: () => {} }),
      TEMPORAL_ADDRESS: '',
      DATABASE_URL: '',
      EE_DATA_DIR: dataDir,
      PORT: String(apiPort),
      API_HOST: '127.0.0.1',
      TEMPORAL_DEV_PORT: String(temporalPort),
      TEMPORAL_UI_PORT: String(uiPort),
      ADMIN_PASSWORD,
      STRIPE_SECRET_KEY: 'sk_test_contract',
      STRIPE_WEBHOOK_SECRET: 'whsec_contract',
      STRIPE_API_URL: stripe.url,
      GITHUB_OAUTH_CLIENT_ID: 'contract-client',
      GITHUB_OAUTH_CLIENT_SECRET: 'contract-secret',
      CLOUDFLARE_ACCOUNT_ID: cloudflare.accountId,
      CLOUDFLARE_ZONE_ID: cloudflare.zoneId,
      CLOUDFLARE_API_TOKEN: cloudflare.apiToken,
      CLOUDFLARE_API_URL: cloudflare.url,
      AGENT_DIRECT_URL: agent.directUrlTemplate,
      // schemathesis sends thousands of requests from one address: rate limits would answer 429 on purpose.
      RATELIMIT_ENABLED: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  try {
    await waitUp(child, () => output, 120_000);
    const login = await fetch(`${base}/admin/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ password: ADMIN_PASSWORD }),
    });
    const admin = ((await login.json()) as { token: string }).token;
    await seed(join(dataDir, 'easyenclave.db'), base, admin);
    const extra = process.argv.includes('--') ? process.argv.slice(process.argv.indexOf('--') + 1) : [];
    const args = [
      '--config-file',
      new URL('schemathesis.toml', import.meta.url).pathname,
      'run',
      `${base}/openapi.json`,
      '--url',
      base,
      '-H',
      `Authorization: Bearer ${admin}`,
      '--checks',
      'all',
      '--phases',
      'examples,coverage,fuzzing',
      // Per operation and phase: keeps the whole run to a few minutes on 2 cores (~90 operations).
      '--max-examples',
      '20',
      '--workers',
      '2',
      '--seed',
      '1',
      // Logging out would end the admin session every other operation is tested with.
      '--exclude-path',
      '/admin/logout',
      ...extra,
    ];
    console.log(`==> schemathesis ${args.filter((a) => !a.startsWith('Authorization')).join(' ')}`);
    // cwd: its local cache (.schemathesis/) goes to the throwaway data dir, not the checkout.
    // Asynchronously: the fake agent answers from this process's event loop, which spawnSync would block.
    const junit = join(dataDir, 'schemathesis-junit.xml');
    const run = spawn(st, [...args, '--report', 'junit', '--report-junit-path', junit], {
      stdio: 'inherit',
      cwd: dataDir,
    });
    const code = await new Promise<number>((resolve, reject) => {
      run.once('error', reject);
      run.once('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
    });
    printOperationCounts(junit, code);
    return code;
  } finally {
    child.kill('SIGINT');
    await new Promise((r) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        r(undefined);
      }, 15_000);
      child.once('exit', () => {
        clearTimeout(t);
        r(undefined);
      });
    });
    // The dev server's guard may still be writing its last files for a moment after the stack exits.
    rmSync(dataDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 300 });
    await stripe.stop();
    await cloudflare.close();
    await agent.close();
  }
}

/**
 * One plain closing line, `contract: N passed, N failed[, N skipped]`, counted per operation from schemathesis'
 * JUnit report (one testcase per operation), since its own closing line reads like a pytest run of no test.
 */
function printOperationCounts(junitPath: string, exitCode: number): void {
  if (!existsSync(junitPath)) {
    console.log(`\ncontract: 0 passed, 1 failed (schemathesis wrote no report; exit ${exitCode})`);
    return;
  }
  const xml = readFileSync(junitPath, 'utf8');
  const cases = xml.match(/<testcase\b[^>]*?(?:\/>|>[\s\S]*?<\/testcase>)/g) ?? [];
  let failed = 0;
  let skipped = 0;
  for (const c of cases) {
    if (/<(failure|error)\b/.test(c)) failed++;
    else if (/<skipped\b/.test(c)) skipped++;
  }
  const passed = cases.length - failed - skipped;
  console.log(`\ncontract: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
