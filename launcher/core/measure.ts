/**
 * Measure mode (agent.md §12, launcher.md §6.2): boot the image with the fixed measure config, read
 * `EASYENCLAVE_MEASUREMENTS=<json>` (or `EASYENCLAVE_MEASURE_ERROR=<cause>`) from the serial log, tear down.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { EXIT, LauncherError } from './errors';
import { launchVm, removeVm, serialLog, type LauncherContext, type LaunchOptions } from './vm';

export interface Measurements {
  mrtd: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
}

export type MeasureScan = { kind: 'measurements'; value: Measurements } | { kind: 'error'; message: string } | null;

/** Scans the whole log (the guest may write a marker line in pieces, so partial lines are ignored). */
export function scanMeasureLog(log: string): MeasureScan {
  for (const raw of log.split(/\r?\n/).slice(0, log.endsWith('\n') ? undefined : -1)) {
    const line = raw.replace(/\r/g, '');
    const err = line.indexOf('EASYENCLAVE_MEASURE_ERROR=');
    if (err >= 0) return { kind: 'error', message: line.slice(err + 'EASYENCLAVE_MEASURE_ERROR='.length).trim() };
    const i = line.indexOf('EASYENCLAVE_MEASUREMENTS=');
    if (i < 0) continue;
    try {
      const v = JSON.parse(line.slice(i + 'EASYENCLAVE_MEASUREMENTS='.length)) as Partial<Measurements>;
      if (typeof v.mrtd === 'string' && v.mrtd) {
        return {
          kind: 'measurements',
          value: {
            mrtd: v.mrtd.toLowerCase(),
            rtmr0: String(v.rtmr0 ?? ''),
            rtmr1: String(v.rtmr1 ?? ''),
            rtmr2: String(v.rtmr2 ?? ''),
            rtmr3: String(v.rtmr3 ?? ''),
          },
        };
      }
    } catch {
      // a torn or garbled line: keep scanning
    }
  }
  return null;
}

export async function measureImage(
  ctx: LauncherContext,
  o: Omit<LaunchOptions, 'mode' | 'disk'> & { timeoutMs?: number },
): Promise<Measurements> {
  const rec = await launchVm(ctx, { ...o, mode: 'measure', disk: '0' });
  const deadline = Date.now() + (o.timeoutMs ?? 180_000);
  let scan: MeasureScan = null;
  try {
    ctx.progress?.(`waiting for measurements from ${rec.name}`);
    while (Date.now() < deadline) {
      scan = scanMeasureLog(serialLog(ctx, rec.name));
      if (scan) break;
      await sleep(250);
    }
    scan ??= scanMeasureLog(serialLog(ctx, rec.name) + '\n');
  } finally {
    await removeVm(ctx, rec.name, { timeoutMs: 5_000 });
  }
  if (!scan) throw new LauncherError('could not capture MRTD: no EASYENCLAVE_MEASUREMENTS line before the timeout');
  if (scan.kind === 'error') throw new LauncherError(`measurement failed in the guest: ${scan.message}`);
  return scan.value;
}

/**
 * Where a VM's measurements differ from the expected ones (image/expected-measurements output, or a trust bundle
 * with `mrtds_by_size`/`rtmrs_by_size`) for node size `size`: one line per register. RTMR0 is compared only when
 * the expectation has one (it cannot be computed from the image files).
 */
export function compareExpected(m: Measurements, expected: unknown, size: string): string[] {
  const doc = (expected ?? {}) as Record<string, any>;
  const regs: Record<string, unknown> = doc.rtmrs_by_size
    ? { mrtd: doc.mrtds_by_size?.[size], ...(doc.rtmrs_by_size[size] ?? {}) }
    : doc;
  if (typeof regs.mrtd !== 'string')
    throw new LauncherError(`the expected measurements have no MRTD for node size ${size}`, EXIT.usage);
  const out: string[] = [];
  for (const k of ['mrtd', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3'] as const) {
    const want = regs[k];
    if (typeof want !== 'string' || !want) continue;
    if (want.toLowerCase() !== m[k].toLowerCase()) out.push(`${k}: measured ${m[k]}, expected ${want.toLowerCase()}`);
  }
  return out;
}
