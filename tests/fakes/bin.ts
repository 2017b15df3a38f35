/**
 * Fake `docker`, `cloudflared` and `systemctl` executables for agent tests: small Node scripts in a temp directory
 * the test puts first on PATH. Each invocation appends one JSON line `{argv, cwd, env, compose?}` to
 * `<dir>/<name>.log` (`env`: docker's whole environment, the others' TUNNEL_TOKEN). Behaviour:
 * - docker: `compose … up` writes `<dir>/running` (and fails with the text of `<dir>/fail-compose-up` as stderr,
 *   exit 1, when that file exists); `compose … down` removes it; `compose … logs -f` prints a line and waits;
 *   `ps` lists `ee-workload-web-1` while running; `logs` prints two lines; the compose file in use is recorded.
 *   `compose … logs -f` appends its pid to `<dir>/followers.pids` (killed by `close()`, as are cloudflared's).
 *   With `serveWorkload(port)`, `compose … up` also starts the "workload": a detached Node HTTP server on
 *   127.0.0.1:<port> answering `hello from the tenant workload: <method> <url>` (pid in followers.pids, stopped by
 *   `compose down` and `close()`).
 * - cloudflared: records argv and TUNNEL_TOKEN, appends its pid to `<dir>/cloudflared.pids`, runs until killed.
 * - systemctl: records argv, exits 0.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakeInvocation {
  argv: string[];
  cwd: string;
  env: Record<string, string | undefined>;
  compose?: string;
}

export interface FakeBins {
  dir: string;
  /** PATH with the fakes first. */
  path: string;
  calls(name: 'docker' | 'cloudflared' | 'systemctl'): FakeInvocation[];
  /** Make `docker compose up` fail with this stderr (null: succeed again). */
  failComposeUp(stderr: string | null): void;
  /** `compose up` starts a tiny HTTP workload on this port (see above). */
  serveWorkload(port: number): void;
  cloudflaredPids(): number[];
  close(): void;
}

const header = (dir: string, name: string) => `#!/usr/bin/env node
const fs = require('node:fs');
const path = require('node:path');
const dir = ${JSON.stringify(dir)};
const argv = process.argv.slice(2);
const rec = { argv, cwd: process.cwd(), env: { TUNNEL_TOKEN: process.env.TUNNEL_TOKEN } };
const log = () => fs.appendFileSync(path.join(dir, ${JSON.stringify(name + '.log')}), JSON.stringify(rec) + '\\n');
`;

const DOCKER = `
rec.env = { ...process.env };
const f = argv.indexOf('-f');
if (argv[0] === 'compose' && f >= 0 && fs.existsSync(argv[f + 1])) rec.compose = fs.readFileSync(argv[f + 1], 'utf8');
log();
const sub = argv[0] === 'compose' ? argv.slice(f >= 0 ? f + 2 : 1)[0] : argv[0];
if (argv[0] === 'compose' && argv[1] === 'version') { console.log('Docker Compose version v2.29.0'); process.exit(0); }
if (argv[0] === 'compose' && sub === 'up') {
  const fail = path.join(dir, 'fail-compose-up');
  if (fs.existsSync(fail)) { process.stderr.write(fs.readFileSync(fail, 'utf8')); process.exit(1); }
  fs.writeFileSync(path.join(dir, 'running'), '1');
  const portFile = path.join(dir, 'workload-port');
  if (fs.existsSync(portFile)) {
    const port = Number(fs.readFileSync(portFile, 'utf8'));
    const server = "require('node:http').createServer((q, s) => { s.writeHead(200, { 'content-type': 'text/plain' }); s.end('hello from the tenant workload: ' + q.method + ' ' + q.url); }).listen(" + port + ", '127.0.0.1')";
    const w = require('node:child_process').spawn(process.execPath, ['-e', server], { detached: true, stdio: 'ignore' });
    w.unref();
    fs.appendFileSync(path.join(dir, 'followers.pids'), w.pid + '\\n');
    fs.writeFileSync(path.join(dir, 'workload.pid'), String(w.pid));
  }
  console.log('Container ee-workload-web-1  Started');
  process.exit(0);
}
if (argv[0] === 'compose' && sub === 'down') {
  fs.rmSync(path.join(dir, 'running'), { force: true });
  const pidFile = path.join(dir, 'workload.pid');
  if (fs.existsSync(pidFile)) { try { process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL'); } catch {} fs.rmSync(pidFile); }
  process.exit(0);
}
if (argv[0] === 'compose' && sub === 'logs') { fs.appendFileSync(path.join(dir, 'followers.pids'), process.pid + '\\n'); console.log('web-1  | hello from the workload'); setInterval(() => {}, 1000); }
else if (argv[0] === 'ps') { if (fs.existsSync(path.join(dir, 'running'))) console.log('ee-workload-web-1\\tUp 2 seconds'); process.exit(0); }
else if (argv[0] === 'logs') { console.log('2026-12-01T00:00:00.000000000Z listening on :8080'); console.error('2026-12-01T00:00:01.000000000Z a warning'); process.exit(0); }
else process.exit(0);
`;

const CLOUDFLARED = `
log();
fs.appendFileSync(path.join(dir, 'cloudflared.pids'), process.pid + '\\n');
console.log('fake cloudflared connected');
process.on('SIGTERM', () => process.exit(0));
setInterval(() => {}, 1000);
`;

export function createFakeBins(): FakeBins {
  const dir = mkdtempSync(join(tmpdir(), 'fake-bin-'));
  const write = (name: string, body: string) => {
    const p = join(dir, name);
    writeFileSync(p, header(dir, name) + body);
    chmodSync(p, 0o755);
  };
  write('docker', DOCKER);
  write('cloudflared', CLOUDFLARED);
  write('systemctl', 'log();\n');
  const read = (file: string) => (existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8') : '');
  return {
    dir,
    path: `${dir}:${process.env.PATH ?? ''}`,
    calls: (name) =>
      read(`${name}.log`)
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as FakeInvocation),
    failComposeUp(stderr) {
      if (stderr === null) rmSync(join(dir, 'fail-compose-up'), { force: true });
      else writeFileSync(join(dir, 'fail-compose-up'), stderr);
    },
    serveWorkload: (port) => writeFileSync(join(dir, 'workload-port'), String(port)),
    cloudflaredPids: () => read('cloudflared.pids').split('\n').filter(Boolean).map(Number),
    close() {
      const pids = `${read('cloudflared.pids')}\n${read('followers.pids')}`;
      for (const pid of pids.split('\n').filter(Boolean).map(Number)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
