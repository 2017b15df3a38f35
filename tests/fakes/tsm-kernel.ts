/**
 * A fake configfs-tsm "kernel": a plain directory standing in for /sys/kernel/config/tsm/report. It polls for
 * report entries the agent creates, and when an entry's `inblob` (64 bytes) appears it writes `provider`,
 * `generation` and then `outblob` — a TDX quote (v4 or v5, built by tests/fixtures/make-tdx-quote.ts) carrying the
 * configured MRTD/RTMRs and the inblob as REPORTDATA. Works for an agent in another process too.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeTdxQuote } from '../fixtures/make-tdx-quote';

export interface FakeTsm {
  /** The directory to configure as `tsm_report_dir`. */
  root: string;
  /** REPORTDATA (hex) of every quote produced, in order. */
  readonly reportData: string[];
  close(): void;
}

export function startFakeTsm(opts: {
  mrtd: string;
  rtmrs: { rtmr0: string; rtmr1: string; rtmr2: string; rtmr3: string };
  version?: 4 | 5;
  root?: string;
}): FakeTsm {
  const root = opts.root ?? mkdtempSync(join(tmpdir(), 'fake-tsm-'));
  const done = new Set<string>();
  const reportData: string[] = [];
  const tick = () => {
    let entries: string[];
    try {
      entries = readdirSync(root);
    } catch {
      return;
    }
    for (const name of entries) {
      const dir = join(root, name);
      if (done.has(dir)) continue;
      try {
        if (!statSync(dir).isDirectory()) continue;
        if (!existsSync(join(dir, 'generation'))) writeFileSync(join(dir, 'generation'), '0\n');
        const inblob = join(dir, 'inblob');
        if (!existsSync(inblob)) continue;
        const data = readFileSync(inblob);
        if (data.length !== 64) continue; // still being written
        done.add(dir);
        const rd = data.toString('hex');
        reportData.push(rd);
        const quote = makeTdxQuote({
          version: opts.version ?? 4,
          ...(opts.version === 5 ? { bodyType: 3 as const } : {}),
          mrtd: opts.mrtd,
          ...opts.rtmrs,
          reportData: rd,
        });
        writeFileSync(join(dir, 'provider'), 'tdx_guest\n');
        writeFileSync(join(dir, 'generation'), '1\n');
        writeFileSync(join(dir, 'outblob'), quote);
      } catch {
        // the agent removed the entry meanwhile
      }
    }
  };
  const timer = setInterval(tick, 10);
  return {
    root,
    reportData,
    close() {
      clearInterval(timer);
      if (!opts.root) rmSync(root, { recursive: true, force: true });
    },
  };
}
