import { describe, expect, it } from 'vitest';
import { mintBootstrapToken, bootstrapTokenHash } from '../../core/auth/bootstrap-token';
import { mintConsoleToken, verifyConsoleToken } from '../../core/auth/console-token';
import { keyRing, newSealingKey } from '../../core/auth/keyring';
import {
  hashPassword,
  hashToken,
  isTokenHash,
  randomToken,
  verifyPassword,
  verifyToken,
} from '../../core/auth/secrets';

describe('machine-token hashing (HMAC-SHA-256 under the sealing key)', () => {
  const keys = keyRing(newSealingKey());

  it('hashes deterministically under the current key id and verifies the right token only', async () => {
    const token = randomToken(48);
    const h = hashToken(keys, token);
    expect(h).toBe(hashToken(keys, token));
    expect(h).toMatch(new RegExp(`^hmac-sha256\\$${keys.current.id}\\$[A-Za-z0-9_-]{43}$`));
    expect(h).not.toContain(token);
    expect(isTokenHash(h)).toBe(true);
    expect(await verifyToken(keys, h, token)).toEqual({ ok: true });
    expect(await verifyToken(keys, h, randomToken(48))).toEqual({ ok: false });
    expect(await verifyToken(keys, h, `${token}x`)).toEqual({ ok: false });
  });

  it('a database dump alone does not verify: another install key rejects the same hash', async () => {
    const token = randomToken(32);
    const other = keyRing(newSealingKey());
    expect(await verifyToken(other, hashToken(keys, token), token)).toEqual({ ok: false });
    // Same key id forged onto another install's MAC: still rejected (the MAC is checked, not the id).
    const forged = `hmac-sha256$${keys.current.id}$${hashToken(other, token).split('$')[2]}`;
    expect(await verifyToken(keys, forged, token)).toEqual({ ok: false });
  });

  it('truncated, padded and malformed hashes are a plain false, never a throw', async () => {
    const token = randomToken(32);
    const h = hashToken(keys, token);
    for (const bad of [
      h.slice(0, -1),
      `${h}A`,
      'hmac-sha256$',
      'hmac-sha256$$',
      `hmac-sha256$${keys.current.id}$`,
      '',
      'x',
    ]) {
      expect(await verifyToken(keys, bad, token)).toEqual({ ok: false });
    }
  });

  it('after a key rotation, a hash under the previous key verifies and asks to be rehashed', async () => {
    const token = randomToken(32);
    const old = hashToken(keys, token);
    const rotated = keyRing(newSealingKey(), keys.current);
    const r = await verifyToken(rotated, old, token);
    expect(r.ok).toBe(true);
    expect(r.rehash).toBe(hashToken(rotated, token));
    expect(r.rehash!.split('$')[1]).toBe(rotated.current.id);
    expect(await verifyToken(rotated, old, randomToken(32))).toEqual({ ok: false });
  });

  it('a legacy argon2id hash verifies once and answers its HMAC replacement; a wrong token does not', async () => {
    const token = randomToken(32);
    const legacy = await hashPassword(token);
    const r = await verifyToken(keys, legacy, token);
    expect(r).toEqual({ ok: true, rehash: hashToken(keys, token) });
    expect(await verifyToken(keys, legacy, randomToken(32))).toEqual({ ok: false });
  });

  it('human passwords stay argon2id', async () => {
    const h = await hashPassword('correct horse battery staple');
    expect(h).toMatch(/^\$argon2id\$/);
    expect(await verifyPassword(h, 'correct horse battery staple')).toBe(true);
    expect(await verifyPassword(h, 'wrong')).toBe(false);
    expect(await verifyPassword('not a hash', 'x')).toBe(false);
  });

  it('bootstrap tokens: HMAC under the current key, a wrong token never matches', () => {
    const t = mintBootstrapToken();
    expect(bootstrapTokenHash(keys, t)).toBe(bootstrapTokenHash(keys, ` ${t}\n`));
    expect(bootstrapTokenHash(keys, t)).not.toBe(bootstrapTokenHash(keys, mintBootstrapToken()));
    expect(bootstrapTokenHash(keys, t)).not.toBe(bootstrapTokenHash(keyRing(newSealingKey()), t));
  });

  it('console tokens: verified under the agent secret only; a tampered signature or payload fails', () => {
    const secret = randomToken(48);
    const nowMs = Date.UTC(2026, 0, 1);
    const { token } = mintConsoleToken({ agentId: 'a1', secret, ttlSeconds: 900, nowMs, isAdmin: true });
    expect(verifyConsoleToken(token, secret, nowMs)).toMatchObject({ agent_id: 'a1', is_admin: true });
    expect(verifyConsoleToken(token, randomToken(48), nowMs)).toBeNull();
    const [v, p, sig] = token.split('.');
    expect(verifyConsoleToken(`${v}.${p}.${sig!.slice(0, -2)}`, secret, nowMs)).toBeNull();
    const other = Buffer.from(Buffer.from(p!, 'base64url').toString().replace('"a1"', '"a2"')).toString('base64url');
    expect(verifyConsoleToken(`${v}.${other}.${sig}`, secret, nowMs)).toBeNull();
  });
});
