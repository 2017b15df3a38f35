/**
 * The Temporal payload codec (after temporalio/samples-typescript `encryption/`): every payload the worker and
 * the API's client send — workflow inputs and results, activity arguments and results, signals, updates,
 * queries, memos, failure messages and stacks — is encrypted whole with AES-256-GCM under the key ring's
 * current key before it reaches the Temporal server, so nothing secret lands in history by accident.
 *
 * An encrypted payload has metadata `encoding: binary/encrypted` and `encryption-key-id: <key id>`; its data
 * is iv(12) | ciphertext | tag(16) of the original payload's protobuf (the samples' layout). Decoding picks
 * the key by id (so data written under the previous key still opens after a rotation) and passes payloads
 * that are not encrypted through unchanged (histories recorded before the codec, tests/fixtures/histories).
 */
import {
  METADATA_ENCODING_KEY,
  ValueError,
  type DataConverter,
  type Payload,
  type PayloadCodec,
} from '@temporalio/common';
import { decode, encode } from '@temporalio/common/lib/encoding';
// Default import: @temporalio/proto is CommonJS whose names plain Node ESM cannot see (as knex in core/db/connection.ts).
import proto from '@temporalio/proto';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { KeyRing } from '../auth/keyring';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const METADATA_KEY_ID = 'encryption-key-id';
const { temporal } = proto;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keys: KeyRing) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const key = this.keys.current;
    return payloads.map((payload) => {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key.bytes, iv);
      const plain = temporal.api.common.v1.Payload.encode(payload).finish();
      const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return {
        metadata: { [METADATA_ENCODING_KEY]: encode(ENCRYPTED_ENCODING), [METADATA_KEY_ID]: encode(key.id) },
        data,
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
      if (!encoding || decode(encoding) !== ENCRYPTED_ENCODING) return payload;
      if (!payload.data) throw new ValueError('Encrypted payload has no data');
      const idBytes = payload.metadata?.[METADATA_KEY_ID];
      if (!idBytes) throw new ValueError('Encrypted payload has no encryption key id');
      const id = decode(idBytes);
      const key = this.keys.byId(id);
      if (!key) throw new ValueError(`Payload encrypted under unknown key ${id}`);
      const data = Buffer.from(payload.data);
      const decipher = createDecipheriv('aes-256-gcm', key.bytes, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return temporal.api.common.v1.Payload.decode(plain);
    });
  }
}

/**
 * The one data converter of every Temporal Client and Worker of the install. (Failure messages and stacks stay
 * in clear: encrypting them needs a failure converter loaded by path inside the workflow bundle; errors must
 * not quote secrets.)
 */
export function dataConverterFor(keys: KeyRing): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keys)] };
}

/** A payload in the codec-server protocol's JSON form (proto3 JSON: bytes as base64). */
export interface JsonPayload {
  metadata?: Record<string, string> | null;
  data?: string | null;
}

export function payloadFromJson({ metadata, data }: JsonPayload): Payload {
  return {
    metadata: metadata
      ? Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')]))
      : undefined,
    data: data ? Buffer.from(data, 'base64') : undefined,
  };
}

export function payloadToJson({ metadata, data }: Payload): JsonPayload {
  return {
    metadata: metadata
      ? Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, Buffer.from(v ?? []).toString('base64')]))
      : null,
    data: data ? Buffer.from(data).toString('base64') : null,
  };
}
