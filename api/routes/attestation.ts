import { z } from 'zod';
import { mintCpQuote } from '../../core/attestation/cp-quote';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';

/** GET /api/v1/attestation (api.md §1): a fresh CP quote per call; no TEE is an answer, not an error. */
export function attestationRoutes(routes: Routes, deps: AppDeps): void {
  routes.add(
    {
      method: 'get',
      path: '/api/v1/attestation',
      summary: "The control plane's own TDX quote (configfs-tsm), REPORTDATA = the nonce zero-padded to 64 bytes",
      tag: 'attestation',
      auth: 'none',
      query: z.object({ nonce: z.string().optional() }),
      responses: { 200: { description: 'Quote or error', schema: z.record(z.string(), z.unknown()) } },
    },
    async ({ query }) => {
      const nonce = query.nonce ?? null;
      const r = await mintCpQuote(nonce);
      const timestamp = deps.now().toISOString();
      return r.ok
        ? { timestamp, nonce, quote_b64: r.quote_b64, measurements: r.measurements }
        : { timestamp, nonce, error: r.error };
    },
  );
}
