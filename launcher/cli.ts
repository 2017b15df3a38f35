/**
 * `ee`: the scriptable CLI (commander) over launcher/core, and the entry to the Ink UI (`ee` alone or `ee ui`).
 * Contract: machine output on stdout (`--json`: one JSON document), progress and diagnostics on stderr, exit codes
 * from core/errors.ts (documented in launcher/README.md), never a stack trace (EE_DEBUG=1 prints one).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { normalizeDatacenter, normalizeOwner } from './core/config';
import { CpClient } from './core/cp-client';
import { EXIT, LauncherError, usageError } from './core/errors';
import { compareExpected, measureImage } from './core/measure';
import { preflightPassed, runPreflight, type Check } from './core/preflight';
import { NODE_SIZES, formatMemory, parseNodeSize, parsePositiveInt } from './core/presets';
import { StateDir, defaultStateDir, formatUptime } from './core/state';
import {
  followLog,
  getVm,
  launchVm,
  listVms,
  removeVm,
  serialLog,
  stopVm,
  targets,
  type LauncherContext,
} from './core/vm';
import { runWorker } from './core/worker';
import { secretsCommand } from './secrets-command';

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Record<string, string | undefined>;
  /** Starts the Ink UI (injected so the CLI core stays free of React). */
  startUi?: (ctx: LauncherContext) => Promise<number>;
  signal?: AbortSignal;
}

const sizeList = NODE_SIZES.join('|');

function printError(io: Io, json: boolean, err: unknown): number {
  const e =
    err instanceof LauncherError
      ? err
      : new LauncherError(`internal error: ${(err as Error)?.message ?? String(err)}`, EXIT.failed);
  io.stderr(`error: ${e.message}\n`);
  if (e.remedy) io.stderr(`  remedy: ${e.remedy}\n`);
  if (json)
    io.stdout(JSON.stringify({ error: e.message, remedy: e.remedy ?? null, exit_code: e.exitCode }, null, 2) + '\n');
  if (io.env.EE_DEBUG && err instanceof Error) io.stderr(`${err.stack}\n`);
  return e.exitCode;
}

function checkLine(c: Check): string {
  const mark = c.status === 'ok' ? 'ok  ' : c.status === 'warn' ? 'warn' : 'FAIL';
  return `[${mark}] ${c.title}: ${c.detail}${c.remedy ? `\n        remedy: ${c.remedy}` : ''}`;
}

export async function runCli(argv: string[], io: Io): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command('ee');
  program
    .description('easyenclave host launcher: Intel TDX VMs under QEMU/KVM (no command: the terminal UI)')
    .option('--state-dir <dir>', 'state directory (env EE_STATE_DIR)')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `\nExit codes: 0 ok, 1 operation failed, 2 bad usage or input, 3 host not ready (preflight), 4 not found, 130 interrupted.`,
    );

  const ctx = (): LauncherContext => ({
    state: new StateDir(program.opts<{ stateDir?: string }>().stateDir ?? defaultStateDir(io.env)),
    env: io.env,
    progress: (m) => io.stderr(`… ${m}\n`),
  });
  const out = (json: boolean, data: unknown, human: string) =>
    io.stdout(json ? JSON.stringify(data, null, 2) + '\n' : human + (human.endsWith('\n') || !human ? '' : '\n'));
  const action =
    <A extends unknown[]>(fn: (...args: A) => Promise<number | void>) =>
    async (...args: A) => {
      const cmd = args[args.length - 1] as Command;
      const json = Boolean(cmd.opts<{ json?: boolean }>().json);
      try {
        exitCode = (await fn(...args)) ?? EXIT.ok;
      } catch (err) {
        exitCode = printError(io, json, err);
      }
    };

  const sizing = (c: Command) =>
    c
      .addOption(
        new Option('--node-size <size>', `node-size preset: ${sizeList} (env EASYENCLAVE_DEFAULT_SIZE, else tiny)`),
      )
      .option('--memory <size>', 'override the preset memory (e.g. 4G, 512M)')
      .option('--vcpus <n>', 'override the preset vCPU count')
      .option('--no-tdx', 'boot a plain KVM/TCG guest without TDX (development, CI)')
      .addOption(
        new Option('--accel <accel>', 'accelerator of a --no-tdx guest')
          .choices(['auto', 'kvm', 'tcg'])
          .default('auto'),
      )
      .option('--json', 'print JSON on stdout');

  sizing(
    program
      .command('launch')
      .description('boot a VM from an image directory or OCI reference and return (fire-and-forget)')
      .argument('<image>', 'image directory (easyenclave.vmlinuz, easyenclave.initrd, …) or OCI reference'),
  )
    .option('--cp', 'launch a control-plane VM instead of an agent')
    .option('--cp-image <ref>', 'control-plane container image (with --cp; env CONTROL_PLANE_IMAGE)')
    .option('--owner <github:org/name>', 'GitHub owner this agent serves')
    .option('--cp-url <url>', 'control plane URL the agent registers with')
    .option('--datacenter <provider:location>', 'datacenter label, e.g. baremetal:fra1')
    .option('--disk <GiB>', 'data disk size (0 = none)')
    .option('--intel-api-key <key>', 'Intel Trust Authority API key (env ITA_API_KEY)')
    .option('--name <name>', 'VM name (default ee-<size>-<8 hex>)')
    .option('--wait', 'with --cp-url: wait until the agent registers')
    .option('--wait-timeout <s>', 'seconds --wait waits', '300')
    .action(
      action(async (image: string, o: Record<string, string | boolean | undefined>) => {
        const json = Boolean(o.json);
        const owner = o.owner === undefined ? undefined : normalizeOwner(String(o.owner));
        if (owner === null)
          throw usageError(`invalid --owner ${JSON.stringify(o.owner)}: expected github:org or github:org/name`);
        const dc = o.datacenter === undefined ? undefined : normalizeDatacenter(String(o.datacenter));
        if (dc === null)
          throw usageError(`invalid --datacenter ${JSON.stringify(o.datacenter)}: expected <provider>:<location>`);
        if (o.nodeSize !== undefined) parseNodeSize(String(o.nodeSize));
        const waitS = parsePositiveInt(String(o.waitTimeout), '--wait-timeout');
        if (o.wait && !o.cpUrl) throw usageError('--wait needs --cp-url (it waits for the agent to register there)');
        const c = ctx();
        const rec = await launchVm(c, {
          image,
          mode: o.cp ? 'control-plane' : 'agent',
          name: o.name as string | undefined,
          size: o.nodeSize as string | undefined,
          memory: o.memory as string | undefined,
          vcpus: o.vcpus as string | undefined,
          disk: o.disk as string | undefined,
          cpUrl: o.cpUrl as string | undefined,
          owner,
          datacenter: dc,
          intelApiKey: o.intelApiKey as string | undefined,
          cpImage: (o.cpImage as string | undefined) ?? io.env.CONTROL_PLANE_IMAGE,
          attestation: o.tdx === false && !o.cp ? 'insecure-local' : undefined,
          tdx: o.tdx !== false,
          accel: o.accel as 'auto' | 'kvm' | 'tcg',
        });
        let agent = null;
        if (o.wait) {
          const cp = new CpClient(String(o.cpUrl), undefined, 10_000);
          const deadline = Date.now() + waitS * 1000;
          c.progress?.(`waiting for ${rec.name} to register with ${o.cpUrl}`);
          while (!agent && Date.now() < deadline) {
            agent = await cp.agentByVmName(rec.name).catch(() => null);
            if (!agent) await new Promise((r) => setTimeout(r, 2000));
          }
          if (!agent) {
            out(json, { ...rec, agent: null }, `${rec.name} did not register within ${waitS} s`);
            return EXIT.failed;
          }
        }
        const sizeText = `${rec.node_size} ${formatMemory(rec.memory_mib)}/${rec.vcpus} vCPU`;
        out(
          json,
          { ...rec, ...(o.wait ? { agent } : {}) },
          `launched ${rec.name} (pid ${rec.pid}, ${sizeText}, ${rec.tdx ? 'TDX' : `no TDX, ${rec.accel}`})\n` +
            `  serial log: ${rec.serial_log}${agent ? `\n  registered as agent ${agent.agent_id}` : ''}`,
        );
      }),
    );

  const cpCleanup = (c: Command) =>
    c
      .option('--cp-url <url>', 'also delete the VM’s agent on this control plane (env EASYENCLAVE_CP_URL)')
      .option('--admin-token <token>', 'admin bearer token for that delete (env ADMIN_TOKEN)')
      .option('--timeout <s>', 'seconds to wait after SIGTERM before SIGKILL', '10')
      .option('--json', 'print JSON on stdout');

  const stopLike = (remove: boolean) =>
    action(async (which: string, o: Record<string, string | boolean | undefined>) => {
      const c = ctx();
      const timeoutMs = parsePositiveInt(String(o.timeout), '--timeout', 0) * 1000;
      const cpUrl = (o.cpUrl as string | undefined) ?? io.env.EASYENCLAVE_CP_URL;
      const adminToken = (o.adminToken as string | undefined) ?? io.env.ADMIN_TOKEN;
      const results = [];
      for (const name of targets(c, which)) {
        if (which === 'all') io.stderr(`${remove ? 'removing' : 'stopping'} ${name}…\n`);
        const fn = remove ? removeVm : stopVm;
        results.push(await fn(c, name, { timeoutMs, cpUrl, adminToken }));
      }
      const lines = results.map(
        (r) =>
          `${r.name}: ${r.was_running ? (r.killed ? 'killed after the timeout' : 'stopped') : 'was not running'}` +
          `${remove ? ', removed' : ''}` +
          (r.cp_agent_deleted ? `, CP agent ${r.cp_agent_deleted} deleted` : '') +
          (r.cp_error ? `, CP cleanup failed: ${r.cp_error}` : ''),
      );
      out(Boolean(o.json), { results }, lines.join('\n') || 'no VMs');
      return results.some((r) => r.cp_error) ? EXIT.failed : EXIT.ok;
    });

  cpCleanup(program.command('stop').description('stop a VM (or all): SIGTERM, then SIGKILL after --timeout'))
    .argument('<vm>', 'VM name, or "all"')
    .action(stopLike(false));
  cpCleanup(program.command('rm').description('stop a VM (or all) and delete its state (serial log included)'))
    .argument('<vm>', 'VM name, or "all"')
    .action(stopLike(true));

  program
    .command('list')
    .alias('ls')
    .description('VMs in the state dir with state, size, uptime and pid')
    .option('--json', 'print JSON on stdout')
    .action(
      action(async (o: { json?: boolean }) => {
        const vms = listVms(ctx());
        const rows = vms.map((v) => [
          v.name,
          v.state,
          v.node_size,
          `${formatMemory(v.memory_mib)}/${v.vcpus}`,
          formatUptime(v.uptime_s),
          v.tdx ? 'tdx' : v.accel,
          String(v.pid ?? '-'),
        ]);
        const head = ['NAME', 'STATE', 'SIZE', 'MEM/CPU', 'UPTIME', 'ACCEL', 'PID'];
        const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        const fmt = (r: string[]) =>
          r
            .map((x, i) => x.padEnd(w[i]!))
            .join('  ')
            .trimEnd();
        out(Boolean(o.json), { vms }, vms.length ? [fmt(head), ...rows.map(fmt)].join('\n') : 'no VMs');
      }),
    );

  program
    .command('logs')
    .description("print a VM's serial console log")
    .argument('<vm>', 'VM name')
    .option('-f, --follow', 'keep printing new output until the VM stops (Ctrl-C ends)')
    .option('--json', 'print {name, log} on stdout (not with -f)')
    .action(
      action(async (name: string, o: { follow?: boolean; json?: boolean }) => {
        const c = ctx();
        getVm(c, name);
        if (o.follow && o.json) throw usageError('--follow and --json do not combine');
        if (o.follow) await followLog(c, name, io.stdout, io.signal);
        else if (o.json) out(true, { name, log: serialLog(c, name) }, '');
        else io.stdout(serialLog(c, name));
      }),
    );

  sizing(
    program
      .command('measure')
      .description('boot the image in measure mode and print its MRTD and RTMRs')
      .argument('<image>', 'image directory or OCI reference'),
  )
    .option('--timeout <s>', 'seconds to wait for the measurement line', '180')
    .option(
      '--expected <file>',
      'fail (exit 1) unless MRTD/RTMRs equal this image/expected-measurements output or trust bundle (checked before --approve)',
    )
    .option('--approve', 'add the MRTD to the trusted baselines (admin API; needs --cp-url and --admin-token)')
    .option('--cp-url <url>', 'control plane for --approve (env EASYENCLAVE_CP_URL)')
    .option('--admin-token <token>', 'admin session token for --approve (env ADMIN_TOKEN)')
    .action(
      action(async (image: string, o: Record<string, string | boolean | undefined>) => {
        const timeoutMs = parsePositiveInt(String(o.timeout), '--timeout') * 1000;
        const cpUrl = (o.cpUrl as string | undefined) ?? io.env.EASYENCLAVE_CP_URL;
        const adminToken = (o.adminToken as string | undefined) ?? io.env.ADMIN_TOKEN;
        if (o.approve && (!cpUrl || !adminToken)) throw usageError('--approve needs --cp-url and --admin-token');
        if (o.nodeSize !== undefined) parseNodeSize(String(o.nodeSize));
        let expected: unknown = undefined;
        if (o.expected) {
          try {
            expected = JSON.parse(readFileSync(String(o.expected), 'utf8'));
          } catch (err) {
            throw usageError(`--expected ${String(o.expected)}: ${(err as Error).message}`);
          }
        }
        const m = await measureImage(ctx(), {
          image,
          size: o.nodeSize as string | undefined,
          memory: o.memory as string | undefined,
          vcpus: o.vcpus as string | undefined,
          tdx: o.tdx !== false,
          accel: o.accel as 'auto' | 'kvm' | 'tcg',
          timeoutMs,
        });
        if (expected !== undefined) {
          const size = (o.nodeSize as string | undefined) ?? io.env.EASYENCLAVE_DEFAULT_SIZE ?? 'tiny';
          const diff = compareExpected(m, expected, size);
          if (diff.length) {
            throw new LauncherError(
              `measurements differ from ${String(o.expected)}:\n  ${diff.join('\n  ')}`,
              EXIT.failed,
              'the image, the host firmware or the boot model in image/MEASUREMENTS.md changed: do not approve',
            );
          }
        }
        let approved = null;
        if (o.approve) {
          approved = await new CpClient(cpUrl!, adminToken).addTrustedMrtd(m.mrtd, `ee measure ${image}`);
        }
        out(
          Boolean(o.json),
          { ...m, approved: approved !== null, ...(expected !== undefined ? { expected: 'match' } : {}) },
          `MRTD  ${m.mrtd}\nRTMR0 ${m.rtmr0}\nRTMR1 ${m.rtmr1}\nRTMR2 ${m.rtmr2}\nRTMR3 ${m.rtmr3}` +
            (expected !== undefined ? `\nmatches ${String(o.expected)}` : '') +
            (approved ? `\nadded to the trusted MRTDs of ${cpUrl}` : ''),
        );
      }),
    );

  program
    .command('preflight')
    .description('check this host: KVM, TDX, QGS, QEMU, firmware, disk space, image')
    .option('--image <dir>', 'also check this image directory')
    .option('--no-tdx', 'check for plain (non-TDX) guests: TDX checks only warn')
    .option('--json', 'print JSON on stdout')
    .action(
      action(async (o: { image?: string; tdx?: boolean; json?: boolean }) => {
        const c = ctx();
        const checks = await runPreflight({
          env: io.env,
          stateDir: c.state.root,
          image: o.image,
          tdx: o.tdx !== false,
        });
        const ok = preflightPassed(checks);
        out(Boolean(o.json), { ok, checks }, checks.map(checkLine).join('\n'));
        return ok ? EXIT.ok : EXIT.host;
      }),
    );

  program
    .command('worker')
    .description('claim capacity launch orders from the control plane and launch them on this host')
    .option('--cp-url <url>', 'control plane (env CP_URL)')
    .option('--launcher-api-key <key>', 'launcher account API key (env LAUNCHER_API_KEY)')
    .option('--image <ref>', 'image every VM boots (env LAUNCHER_IMAGE)')
    .option('--intel-api-key <key>', 'ITA API key passed to the agents (env INTEL_API_KEY / ITA_API_KEY)')
    .option('--providers <list>', 'enabled providers (env LAUNCHER_PROVIDERS; default baremetal)')
    .option('--datacenter <dc>', 'claim only this datacenter (env LAUNCHER_DATACENTER)')
    .option('--node-size <size>', `claim only this size: ${sizeList} (env LAUNCHER_NODE_SIZE)`)
    .option('--poll-seconds <s>', 'seconds between claims when idle (min 2; env LAUNCHER_POLL_SECONDS; default 10)')
    .option('--register-timeout <s>', 'seconds an agent gets to register before the order fails', '600')
    .option('--one-shot', 'process at most one claim')
    .option('--max-orders <n>', 'stop after this many orders, 0 = unlimited (env LAUNCHER_MAX_ORDERS; default 0)')
    .option('--memory <size>', 'override the preset memory of every VM')
    .option('--vcpus <n>', 'override the preset vCPUs of every VM')
    .option('--no-tdx', 'plain guests (development): agents attest as insecure-local')
    .option('--json', 'print the outcomes as JSON on stdout')
    .action(
      action(async (o: Record<string, string | boolean | undefined>) => {
        const e = io.env;
        const cpUrl = String(o.cpUrl ?? e.CP_URL ?? '').trim();
        const key = String(o.launcherApiKey ?? e.LAUNCHER_API_KEY ?? '').trim();
        const image = String(o.image ?? e.LAUNCHER_IMAGE ?? '').trim();
        if (!/^https?:\/\/\S+$/.test(cpUrl)) throw usageError('worker needs --cp-url http(s)://… (or env CP_URL)');
        if (!key) throw usageError('worker needs --launcher-api-key (or env LAUNCHER_API_KEY)');
        if (!image) throw usageError('worker needs --image (or env LAUNCHER_IMAGE)');
        const nodeSize = String(o.nodeSize ?? e.LAUNCHER_NODE_SIZE ?? '');
        if (nodeSize) parseNodeSize(nodeSize);
        const datacenter = String(o.datacenter ?? e.LAUNCHER_DATACENTER ?? '');
        if (datacenter && !normalizeDatacenter(datacenter))
          throw usageError(`invalid --datacenter ${JSON.stringify(datacenter)}`);
        // A flag beats its env variable, which beats the default.
        const providers = String(o.providers ?? e.LAUNCHER_PROVIDERS ?? 'baremetal')
          .split(',')
          .map((s) => s.trim().toLowerCase())
          .filter(Boolean);
        const pollS = parsePositiveInt(String(o.pollSeconds ?? e.LAUNCHER_POLL_SECONDS ?? '10'), '--poll-seconds', 2);
        const res = await runWorker(ctx(), {
          cpUrl,
          launcherKey: key,
          image,
          intelApiKey: (o.intelApiKey as string | undefined) ?? e.INTEL_API_KEY ?? e.ITA_API_KEY,
          providers: providers.length ? providers : ['baremetal'],
          datacenter,
          nodeSize,
          pollMs: Number(e.EE_WORKER_POLL_MS) || pollS * 1000,
          registerTimeoutMs: parsePositiveInt(String(o.registerTimeout), '--register-timeout') * 1000,
          oneShot: Boolean(o.oneShot),
          maxOrders: parsePositiveInt(String(o.maxOrders ?? e.LAUNCHER_MAX_ORDERS ?? '0'), '--max-orders', 0),
          memory: o.memory as string | undefined,
          vcpus: o.vcpus as string | undefined,
          tdx: o.tdx !== false,
          attestation: o.tdx === false ? 'insecure-local' : undefined,
          signal: io.signal,
          log: (l) => io.stderr(`[worker] ${l}\n`),
        });
        if (o.json) out(true, res, '');
        return io.signal?.aborted ? EXIT.interrupted : res.exitCode;
      }),
    );

  secretsCommand(program, io, action);

  program
    .command('ui', { isDefault: true })
    .description('the terminal UI (default when no command is given)')
    .action(
      action(async () => {
        if (!io.startUi) throw usageError('the terminal UI is not available here');
        return io.startUi(ctx());
      }),
    );

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') {
        return EXIT.ok;
      }
      // commander already printed `error: …` on stderr; --json still gets its one document on stdout.
      if (argv.includes('--json')) {
        const error = err.message.replace(/^error: /, '');
        io.stdout(JSON.stringify({ error, remedy: null, exit_code: EXIT.usage }, null, 2) + '\n');
      }
      return EXIT.usage;
    }
    return printError(io, false, err);
  }
  return exitCode;
}
