/**
 * The Temporal codec-server protocol for the Web UI and `temporal` CLI (`--codec-endpoint`): payloads in,
 * payloads out, `{payloads: [{metadata: {k: base64}, data: base64}]}`. Only an admin session may decode:
 * the decoded payloads are the plaintext of every workflow's inputs and results.
 */
import { z } from 'zod';
import { badRequest } from '../http/errors';
import { EncryptionCodec, payloadFromJson, payloadToJson, type JsonPayload } from '../../core/temporal/codec';
import type { AppDeps } from '../deps';
import type { Routes } from '../http/route';

const Base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'base64');
const JsonPayloadSchema = z.object({
  metadata: z.record(z.string(), Base64).nullish(),
  data: Base64.nullish(),
});
const Payloads = z.object({ payloads: z.array(JsonPayloadSchema).max(1000) });

export function codecRoutes(routes: Routes, deps: AppDeps): void {
  const codec = new EncryptionCodec(deps.sealingKey);
  const run = async (op: 'encode' | 'decode', payloads: JsonPayload[]) => {
    try {
      const out = await codec[op](payloads.map(payloadFromJson));
      return { payloads: out.map(payloadToJson) };
    } catch (err) {
      throw badRequest(`Cannot ${op} payloads: ${(err as Error).message}`);
    }
  };
  for (const op of ['decode', 'encode'] as const) {
    routes.add(
      {
        method: 'post',
        path: `/codec/${op}`,
        summary:
          op === 'decode'
            ? 'Temporal codec server: decrypt payloads for the Web UI (admin session)'
            : 'Temporal codec server: encrypt payloads under the current key (admin session)',
        tag: 'temporal',
        auth: 'admin',
        body: Payloads,
        responses: {
          200: { description: `Payloads ${op}d`, schema: Payloads },
          400: { description: 'A payload cannot be decrypted (unknown key, tampered data)' },
          401: { description: 'No valid session' },
          403: { description: 'Not an admin' },
        },
      },
      ({ body }) => run(op, body.payloads),
    );
  }
}
