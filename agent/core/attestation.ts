/**
 * Attestation inside the VM (agent.md §4, fixed): a quote through configfs-tsm with chosen REPORTDATA, parsed with
 * core's v4/v5 parser, submitted to Intel Trust Authority. `insecure-local` replaces the quote source for
 * development (see core/attestation/insecure-local.ts) and has no ITA step.
 *
 * REPORTDATA layouts the agent produces:
 * - registration / heartbeat: `reportDataForNonce(challenge.nonce)` — the one layout the CP checks;
 * - `/api/health?attest=true&nonce=<hex>`: `healthReportData(nonce)` — SHA-256 over a domain tag and the caller's
 *   nonce in the nonce region, which the CP never reads as a registration nonce, so such an answer cannot be
 *   replayed as a registration token;
 * - measure mode: 64 zero bytes.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildInsecureLocalQuote, INSECURE_LOCAL_PROVIDER } from '../../core/attestation/insecure-local';
import { hexToBytes, parseTdxQuote, REPORT_DATA_SIZE, type TdxQuote } from '../../core/attestation/tdx-quote';
import { sleep } from './backoff';
import { errorText } from './log';

export type AttestationErrorKind =
  'tsm_unavailable' | 'tsm_failed' | 'quote_invalid' | 'ita_unreachable' | 'ita_rejected' | 'ita_invalid' | 'bad_nonce';

export class AttestationError extends Error {
  override readonly name = 'AttestationError';
  constructor(
    readonly kind: AttestationErrorKind,
    message: string,
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

export interface QuoteSource {
  readonly provider: 'tdx' | 'insecure-local';
  /** Raw quote bytes over exactly 64 bytes of REPORTDATA. */
  quote(reportData: Uint8Array): Promise<Uint8Array>;
}

/**
 * configfs-tsm (Linux `Documentation/ABI/testing/configfs-tsm`): mkdir an entry, write inblob, read outblob, check
 * `generation` advanced by exactly one (else another writer raced us), rmdir. `provider` must be `tdx_guest`.
 */
export function tsmQuoteSource(root: string, opts: { outblobTimeoutMs?: number } = {}): QuoteSource {
  const read = (p: string) => {
    try {
      return readFileSync(p);
    } catch {
      return null;
    }
  };
  return {
    provider: 'tdx',
    async quote(reportData) {
      if (reportData.length !== REPORT_DATA_SIZE) throw new RangeError('report data must be 64 bytes');
      if (!existsSync(root)) {
        throw new AttestationError(
          'tsm_unavailable',
          `configfs-tsm not available: ${root} does not exist (not a TDX guest, or configfs not mounted)`,
        );
      }
      const entry = join(root, `ee-agent-${process.pid}-${process.hrtime.bigint()}`);
      try {
        mkdirSync(entry);
      } catch (err) {
        throw new AttestationError('tsm_failed', `cannot create TSM report entry ${entry}: ${errorText(err)}`);
      }
      try {
        const gen0 = Number.parseInt(read(join(entry, 'generation'))?.toString('utf8') ?? '', 10);
        writeFileSync(join(entry, 'inblob'), reportData);
        // The kernel produces outblob synchronously on read; a test's fake kernel may take a moment.
        const deadline = Date.now() + (opts.outblobTimeoutMs ?? 10_000);
        let out = read(join(entry, 'outblob'));
        while ((!out || out.length === 0) && Date.now() < deadline) {
          await sleep(20);
          out = read(join(entry, 'outblob'));
        }
        if (!out || out.length === 0) {
          throw new AttestationError('tsm_failed', `configfs-tsm produced no quote in ${join(entry, 'outblob')}`);
        }
        const gen1 = Number.parseInt(read(join(entry, 'generation'))?.toString('utf8') ?? '', 10);
        if (Number.isFinite(gen0) && Number.isFinite(gen1) && gen1 !== gen0 + 1) {
          throw new AttestationError('tsm_failed', `configfs-tsm generation went ${gen0} → ${gen1}: concurrent writer`);
        }
        const provider = read(join(entry, 'provider'))?.toString('utf8').trim();
        if (provider && provider !== 'tdx_guest') {
          throw new AttestationError('tsm_failed', `configfs-tsm provider is ${provider}, not tdx_guest`);
        }
        return new Uint8Array(out);
      } finally {
        try {
          rmdirSync(entry); // configfs removes its attribute files with the directory
        } catch {
          rmSync(entry, { recursive: true, force: true }); // a plain directory (test fake kernel)
        }
      }
    },
  };
}

export function insecureLocalQuoteSource(): QuoteSource {
  return { provider: 'insecure-local', quote: async (rd) => buildInsecureLocalQuote(rd) };
}

/** REPORTDATA of a `/api/health?attest=true` quote: SHA-256("easyenclave/agent-health/v1" ‖ nonce) ‖ 32 zero bytes. */
export function healthReportData(nonceHex: string): Uint8Array {
  const hex = nonceHex.trim();
  if (!/^(?:[0-9a-fA-F]{2}){8,64}$/.test(hex)) {
    throw new AttestationError('bad_nonce', 'nonce must be 16-128 hex characters (8-64 bytes)');
  }
  const out = new Uint8Array(REPORT_DATA_SIZE);
  out.set(createHash('sha256').update('easyenclave/agent-health/v1').update(hexToBytes(hex)).digest(), 0);
  return out;
}

/** POST <base>/appraisal/v1/attest (agent.md §4.3) → the ITA JWT. */
export async function itaAttest(opts: {
  baseUrl: string;
  apiKey: string;
  quoteB64: string;
  timeoutMs?: number;
  fetch?: typeof globalThis.fetch;
}): Promise<string> {
  const url = `${opts.baseUrl.replace(/\/+$/, '')}/appraisal/v1/attest`;
  let res: Response;
  let text: string;
  try {
    res = await (opts.fetch ?? fetch)(url, {
      method: 'POST',
      headers: { 'x-api-key': opts.apiKey, 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ quote: opts.quoteB64 }),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    });
    text = await res.text();
  } catch (err) {
    throw new AttestationError('ita_unreachable', `Intel Trust Authority unreachable at ${url}: ${errorText(err)}`);
  }
  if (!res.ok) {
    throw new AttestationError(
      'ita_rejected',
      `Intel Trust Authority answered HTTP ${res.status} at ${url}: ${text.slice(0, 200)}`,
      res.status,
    );
  }
  let token: unknown;
  try {
    token = (JSON.parse(text) as { token?: unknown }).token;
  } catch {
    token = undefined;
  }
  if (typeof token !== 'string' || token === '') {
    throw new AttestationError('ita_invalid', `Intel Trust Authority answer from ${url} has no token`);
  }
  return token;
}

export interface Measurements {
  mrtd: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  report_data: string;
  version: number;
  quote_size: number;
}

export function measurementsOf(q: TdxQuote, size: number): Measurements {
  return {
    mrtd: q.mrtd,
    ...q.rtmrs,
    report_data: q.reportData,
    version: q.header.version,
    quote_size: size,
  };
}

/** The attestation document sent to the CP (agent.md §4.4). */
export interface AttestationDoc {
  timestamp: string;
  provider?: typeof INSECURE_LOCAL_PROVIDER;
  tdx: { quote_b64: string; measurements: Measurements; intel_ta_token?: string };
  workload?: { compose_hash: string; health_status: string };
}

export interface Attester {
  readonly provider: 'tdx' | 'insecure-local';
  /** A fresh quote over `reportData`; with ITA (tdx provider) unless `ita: false`. */
  attest(reportData: Uint8Array, opts?: { ita?: boolean }): Promise<AttestationDoc>;
}

export function createAttester(opts: {
  source: QuoteSource;
  itaUrl: string;
  itaApiKey?: string;
  fetch?: typeof globalThis.fetch;
}): Attester {
  return {
    provider: opts.source.provider,
    async attest(reportData, { ita = true } = {}) {
      const bytes = await opts.source.quote(reportData);
      let parsed: TdxQuote;
      try {
        parsed = parseTdxQuote(bytes);
      } catch (err) {
        throw new AttestationError('quote_invalid', `TDX quote does not parse: ${errorText(err)}`);
      }
      const quote_b64 = Buffer.from(bytes).toString('base64');
      const doc: AttestationDoc = {
        timestamp: new Date().toISOString(),
        tdx: { quote_b64, measurements: measurementsOf(parsed, bytes.length) },
      };
      if (opts.source.provider === 'insecure-local') {
        doc.provider = INSECURE_LOCAL_PROVIDER;
        return doc;
      }
      if (ita) {
        if (!opts.itaApiKey) throw new AttestationError('ita_rejected', 'no Intel Trust Authority API key configured');
        doc.tdx.intel_ta_token = await itaAttest({
          baseUrl: opts.itaUrl,
          apiKey: opts.itaApiKey,
          quoteB64: quote_b64,
          fetch: opts.fetch,
        });
      }
      return doc;
    },
  };
}
