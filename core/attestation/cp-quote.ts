/**
 * The control plane's own TDX quote through configfs-tsm (spec/attestation.md §10). This is local hardware, not a
 * business process, so the API reads it directly; /health serves a copy cached for five minutes
 * (background.md §2.4) and GET /api/v1/attestation mints a fresh one per call.
 */
import { randomUUID } from 'node:crypto';
import { access, mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPORT_DATA_SIZE, bytesToHex } from './tdx-quote';

export const TSM_REPORT_ROOT = '/sys/kernel/config/tsm/report';
export const CP_ATTESTATION_TTL_MS = 5 * 60 * 1000;

export interface CpMeasurements {
  mrtd: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
}

export type CpQuoteResult =
  { ok: true; quote_b64: string; measurements: CpMeasurements | null } | { ok: false; error: string };

/** §10: MRTD/RTMRs at fixed offsets of the TD report (byte 48), when the quote is long enough. */
export function measurementsOf(quote: Uint8Array): CpMeasurements | null {
  if (quote.length < 584) return null;
  const at = (from: number, to: number) => bytesToHex(quote.subarray(48 + from, 48 + to));
  return { mrtd: at(136, 184), rtmr0: at(328, 376), rtmr1: at(376, 424), rtmr2: at(424, 472), rtmr3: at(472, 520) };
}

/**
 * The kernel produces `outblob` synchronously on read; a provider that is slower (or a test's fake kernel in another
 * process) gets up to `waitMs` before the read counts as failed.
 */
async function readOutblob(path: string, waitMs: number): Promise<Uint8Array> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const q = await readFile(path);
      if (q.length > 0) return new Uint8Array(q);
      if (Date.now() >= deadline) throw new Error(`${path} is empty`);
    } catch (e) {
      if (Date.now() >= deadline) throw e;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function mintCpQuote(
  nonce: string | null | undefined,
  root = TSM_REPORT_ROOT,
  outblobWaitMs = 5000,
): Promise<CpQuoteResult> {
  try {
    await access(root);
  } catch {
    return { ok: false, error: 'TDX not available (control plane not in TEE)' };
  }
  const dir = join(root, `ee-${randomUUID()}`);
  try {
    await mkdir(dir);
    const inblob = Buffer.alloc(REPORT_DATA_SIZE);
    Buffer.from(nonce ?? '', 'utf8').copy(inblob, 0, 0, REPORT_DATA_SIZE);
    await writeFile(join(dir, 'inblob'), inblob);
    const quote = await readOutblob(join(dir, 'outblob'), outblobWaitMs);
    return { ok: true, quote_b64: Buffer.from(quote).toString('base64'), measurements: measurementsOf(quote) };
  } catch (e) {
    return { ok: false, error: `TDX attestation failed: ${e instanceof Error ? e.message : String(e)}` };
  } finally {
    await rmdir(dir).catch(() => undefined);
  }
}

export interface CpAttestationSummary {
  quote_b64: string;
  mrtd: string;
  generated_at: string;
}

/** The /health cache: re-minted at most every `ttlMs`; a failure caches null for the same period (a missing TSM is reported, not retried per request). */
export function cachedCpAttestation(
  opts: { ttlMs?: number; root?: string; now?: () => Date } = {},
): () => Promise<CpAttestationSummary | null> {
  const ttl = opts.ttlMs ?? CP_ATTESTATION_TTL_MS;
  const now = opts.now ?? (() => new Date());
  let cached: { at: number; value: Promise<CpAttestationSummary | null> } | null = null;
  return () => {
    const t = now().getTime();
    if (!cached || t - cached.at >= ttl) {
      cached = {
        at: t,
        value: mintCpQuote(null, opts.root).then((r) =>
          r.ok ? { quote_b64: r.quote_b64, mrtd: r.measurements?.mrtd ?? '', generated_at: now().toISOString() } : null,
        ),
      };
    }
    return cached.value;
  };
}
