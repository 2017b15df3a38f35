/**
 * The agent's HPKE key for tenant secrets (issue #17): an X25519 key pair generated inside the VM at first boot,
 * kept in memory and in `<data_dir>/env-key.json` (mode 0600 in a 0700 directory, replaced atomically) so a
 * restarted agent keeps the key its registration attested. The data dir lives on the VM's encrypted disk; a
 * production TDX image would additionally seal this file to a key derived from the TD's measurements (see
 * docs/design-notes.md). The private key never leaves this process: the CP receives the public key, bound to the
 * quote by SHA-256(public key) in REPORTDATA bytes 32..64.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  b64url,
  generateEnvKeyPair,
  keyBinding,
  openEnv,
  parsePublicKey,
  PUBLIC_KEY_BYTES,
  fromB64url,
  type EncryptedEnv,
  type EnvKeyPair,
} from '../../core/secrets/hpke-env';

const KeyFile = z.object({
  kem: z.literal('DHKEM(X25519, HKDF-SHA256)'),
  public_key: z.string(),
  private_key: z.string(),
});

export interface EnvKey {
  readonly path: string;
  /** base64url of the raw public key (what registration sends). */
  readonly publicKeyB64: string;
  /** SHA-256 of the public key: REPORTDATA bytes 32..64 of every registration/heartbeat quote. */
  readonly binding: Uint8Array;
  open(envelope: EncryptedEnv, ids: { deploymentId: string; agentId: string }): Promise<Record<string, string>>;
}

function load(path: string): EnvKeyPair | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  try {
    const f = KeyFile.parse(JSON.parse(text));
    const publicKey = parsePublicKey(f.public_key);
    const privateKey = fromB64url(f.private_key);
    if (!publicKey || !privateKey || privateKey.length !== PUBLIC_KEY_BYTES) return null;
    return { publicKey, privateKey };
  } catch {
    return null;
  }
}

/** Loads the persisted key pair, or generates and persists one (an unreadable file is replaced). */
export async function loadOrCreateEnvKey(dataDir: string): Promise<EnvKey & { created: boolean }> {
  const path = join(dataDir, 'env-key.json');
  let kp = load(path);
  const created = kp === null;
  if (!kp) {
    kp = await generateEnvKeyPair();
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    const body = {
      kem: 'DHKEM(X25519, HKDF-SHA256)',
      public_key: b64url(kp.publicKey),
      private_key: b64url(kp.privateKey),
    };
    writeFileSync(tmp, JSON.stringify(body) + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, path);
  }
  const pair = kp;
  return {
    path,
    created,
    publicKeyB64: b64url(pair.publicKey),
    binding: keyBinding(pair.publicKey),
    open: (envelope, ids) => openEnv({ keyPair: pair, envelope, ...ids }),
  };
}
