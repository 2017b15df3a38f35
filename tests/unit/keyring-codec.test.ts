import { METADATA_ENCODING_KEY, ValueError, type Payload } from '@temporalio/common';
import { decode, encode } from '@temporalio/common/lib/encoding';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  InvalidSealingKeyError,
  keyRing,
  newSealingKey,
  parseSealingKey,
  randomKeyRing,
} from '../../core/auth/keyring';
import { UnsealError, seal, unseal } from '../../core/auth/seal';
import { EncryptionCodec, METADATA_KEY_ID, payloadFromJson, payloadToJson } from '../../core/temporal/codec';

const json = (v: unknown): Payload => ({
  metadata: { [METADATA_ENCODING_KEY]: encode('json/plain') },
  data: encode(JSON.stringify(v)),
});

/** What core/auth/seal.ts wrote before key ids: bare base64url(iv | tag | ciphertext). */
function legacySeal(keyText: string, plaintext: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', Buffer.from(keyText, 'base64url'), iv);
  const ct = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), ct]).toString('base64url');
}

describe('sealing key ring', () => {
  it('seals under the current key and names it', () => {
    const ring = randomKeyRing();
    const s = seal(ring, 'agent-secret');
    expect(s.sealed.startsWith(`${ring.current.id}.`)).toBe(true);
    expect(s.sealed).not.toContain('agent-secret');
    expect(unseal(ring, s)).toBe('agent-secret');
  });

  it('rotation: data sealed under the previous key still opens, new data uses the new key', () => {
    const oldKey = newSealingKey();
    const newKey = newSealingKey();
    const before = seal(keyRing(oldKey), 'sealed-before-rotation');
    const rotated = keyRing(newKey, oldKey);
    expect(unseal(rotated, before)).toBe('sealed-before-rotation');
    const after = seal(rotated, 'sealed-after-rotation');
    expect(after.sealed.split('.')[0]).toBe(parseSealingKey(newKey).id);
    expect(unseal(keyRing(newKey), after)).toBe('sealed-after-rotation');
    // Once the old key is dropped, what it sealed no longer opens.
    expect(() => unseal(keyRing(newKey), before)).toThrow(UnsealError);
  });

  it('a fresh key opens nothing (a database dump alone is not enough)', () => {
    const sealed = seal(randomKeyRing(), 'tunnel-token');
    expect(() => unseal(randomKeyRing(), sealed)).toThrow(UnsealError);
    const forged = { sealed: `${randomKeyRing().current.id}.${sealed.sealed.split('.')[1]}` };
    expect(() => unseal(randomKeyRing(), forged)).toThrow(/unknown key/);
  });

  it('opens values sealed before key ids existed, with either key of the ring', () => {
    const oldKey = newSealingKey();
    const legacy = { sealed: legacySeal(oldKey, 'legacy-secret') };
    expect(unseal(keyRing(oldKey), legacy)).toBe('legacy-secret');
    expect(unseal(keyRing(newSealingKey(), oldKey), legacy)).toBe('legacy-secret');
    expect(() => unseal(randomKeyRing(), legacy)).toThrow(UnsealError);
  });

  it('rejects keys that are not 32 bytes and accepts standard base64', () => {
    expect(() => parseSealingKey('short')).toThrow(InvalidSealingKeyError);
    expect(() => parseSealingKey(randomBytes(16).toString('base64url'))).toThrow(InvalidSealingKeyError);
    const bytes = randomBytes(32);
    expect(parseSealingKey(bytes.toString('base64')).bytes.equals(bytes)).toBe(true);
    expect(keyRing(bytes.toString('base64url'), bytes.toString('base64')).previous).toBeNull();
  });
});

describe('payload codec', () => {
  it('encrypts whole payloads under the current key id and decodes them back', async () => {
    const ring = randomKeyRing();
    const codec = new EncryptionCodec(ring);
    const [enc] = await codec.encode([json({ secret: 'tunnel-token-123' })]);
    expect(decode(enc!.metadata![METADATA_ENCODING_KEY]!)).toBe('binary/encrypted');
    expect(decode(enc!.metadata![METADATA_KEY_ID]!)).toBe(ring.current.id);
    expect(Buffer.from(enc!.data!).toString('latin1')).not.toContain('tunnel-token-123');
    const [dec] = await codec.decode([enc!]);
    expect(decode(dec!.metadata![METADATA_ENCODING_KEY]!)).toBe('json/plain');
    expect(JSON.parse(decode(dec!.data!))).toEqual({ secret: 'tunnel-token-123' });
  });

  it('passes payloads that are not encrypted through unchanged (recorded histories)', async () => {
    const plain = json({ vm: 'x' });
    const [out] = await new EncryptionCodec(randomKeyRing()).decode([plain]);
    expect(out).toBe(plain);
  });

  it('decodes payloads of the previous key after a rotation; unknown or tampered ones fail', async () => {
    const oldKey = newSealingKey();
    const [enc] = await new EncryptionCodec(keyRing(oldKey)).encode([json('v')]);
    const [dec] = await new EncryptionCodec(keyRing(newSealingKey(), oldKey)).decode([enc!]);
    expect(JSON.parse(decode(dec!.data!))).toBe('v');
    await expect(new EncryptionCodec(randomKeyRing()).decode([enc!])).rejects.toThrow(ValueError);
    const flipped = Buffer.from(enc!.data!);
    flipped[20]! ^= 0xff;
    const tampered = { ...enc!, data: flipped };
    await expect(new EncryptionCodec(keyRing(oldKey)).decode([tampered])).rejects.toThrow();
  });

  it('round-trips the codec-server JSON form', () => {
    const p = json({ a: 1 });
    const back = payloadFromJson(payloadToJson(p));
    expect(decode(back.metadata!.encoding!)).toBe('json/plain');
    expect(decode(back.data!)).toBe('{"a":1}');
  });
});
