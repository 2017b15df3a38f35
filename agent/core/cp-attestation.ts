/**
 * Verification of the control plane's `X-CP-Attestation` envelope on deploy/undeploy (agent.md §7.2): a single-use
 * challenge nonce (from `/api/control/challenge`) in the CP's own quote REPORTDATA as ASCII, the quote's MRTD in the
 * trusted set, or equal to the TOFU pin in `<data_dir>/trusted-control-plane-mrtd.txt`.
 * Mode `required` rejects any failure, `optional` accepts but logs, `disabled` skips.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bytesToHex, quoteFromBase64 } from '../../core/attestation/tdx-quote';

export type CpAttestationMode = 'required' | 'optional' | 'disabled';

export function createCpAttestationVerifier(opts: {
  mode: CpAttestationMode;
  trustedMrtds: string[];
  dataDir: string;
  ttlSeconds: number;
  now?: () => number;
}) {
  const now = opts.now ?? Date.now;
  const challenges = new Map<string, number>();
  const pinPath = join(opts.dataDir, 'trusted-control-plane-mrtd.txt');
  const trusted = new Set(opts.trustedMrtds.filter((m) => /^[0-9a-f]{96}$/.test(m)));
  const purge = () => {
    for (const [n, deadline] of challenges) if (deadline <= now()) challenges.delete(n);
  };
  const pinned = () => {
    try {
      const v = readFileSync(pinPath, 'utf8').trim().toLowerCase();
      return /^[0-9a-f]{96}$/.test(v) ? v : null;
    } catch {
      return null;
    }
  };

  function check(header: string | undefined): { ok: true; mrtd: string } | { ok: false; reason: string } {
    if (!header) return { ok: false, reason: 'missing X-CP-Attestation' };
    let env: { nonce?: unknown; quote_b64?: unknown };
    try {
      env = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as typeof env;
    } catch {
      return { ok: false, reason: 'X-CP-Attestation is not base64url JSON' };
    }
    const nonce = typeof env.nonce === 'string' ? env.nonce.trim().toLowerCase() : '';
    const quote = typeof env.quote_b64 === 'string' ? env.quote_b64 : '';
    if (!nonce || !quote) return { ok: false, reason: 'nonce or quote_b64 missing' };
    purge();
    const deadline = challenges.get(nonce);
    challenges.delete(nonce); // single use, even when the rest fails
    if (deadline === undefined) return { ok: false, reason: 'unknown or expired challenge nonce' };
    let parsed;
    try {
      parsed = quoteFromBase64(quote);
    } catch (err) {
      return { ok: false, reason: `quote does not parse: ${(err as Error).message}` };
    }
    if (!parsed.reportData.startsWith(bytesToHex(new TextEncoder().encode(nonce)))) {
      return { ok: false, reason: 'quote REPORTDATA does not carry the challenge nonce' };
    }
    const mrtd = parsed.mrtd.toLowerCase();
    if (trusted.size > 0 && !trusted.has(mrtd)) return { ok: false, reason: 'control-plane MRTD not trusted' };
    const pin = pinned();
    if (pin && pin !== mrtd) return { ok: false, reason: 'control-plane MRTD differs from the pinned one' };
    return { ok: true, mrtd };
  }

  return {
    mode: opts.mode,
    issueChallenge() {
      purge();
      const nonce = randomBytes(32).toString('hex');
      challenges.set(nonce, now() + opts.ttlSeconds * 1000);
      return { nonce, ttl_seconds: opts.ttlSeconds, issued_at: new Date(now()).toISOString() };
    },
    /** null = accepted; a string = the reason to answer 401. */
    verify(header: string | undefined): string | null {
      if (opts.mode === 'disabled') return null;
      const r = check(header);
      if (r.ok) {
        if (trusted.size === 0 && !pinned() && /^[0-9a-f]{96}$/.test(r.mrtd) && !/^0+$/.test(r.mrtd)) {
          writeFileSync(pinPath, r.mrtd, { mode: 0o600 });
        }
        return null;
      }
      return opts.mode === 'required' ? `Control-plane attestation required: ${r.reason}` : null;
    },
  };
}

export type CpAttestationVerifier = ReturnType<typeof createCpAttestationVerifier>;
