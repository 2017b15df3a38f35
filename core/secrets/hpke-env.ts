/**
 * Tenant secrets encrypted to an attested agent (issue #17): RFC 9180 HPKE base mode, DHKEM(X25519, HKDF-SHA256) /
 * HKDF-SHA256 / AES-256-GCM, single shot. The control plane never holds a private key: it stores and forwards the
 * `{enc, ct}` envelope only; the agent opens it inside the VM.
 *
 *   plaintext = UTF-8 JSON object { NAME: "value", … } (the env map)
 *   info      = "easyenclave/env/v1"
 *   aad       = UTF-8(deployment_id) ‖ 0x00 ‖ UTF-8(agent_id)
 *
 * The AAD binds a ciphertext to one deployment on one agent, so it cannot be replayed into another deployment; the
 * recipient key binds it to one agent. Both fail the same way (the AEAD tag does not verify): the agent cannot tell
 * which, and says both. The agent binds its key to its attestation with `keyBinding(publicKey)` = SHA-256(raw
 * X25519 public key) in REPORTDATA bytes 32..64 (core/attestation/report-data.ts).
 *
 * Pure (WebCrypto only, no I/O): imported by the agent, the control plane, the CLI and the deploy Action.
 */
import { createHash } from 'node:crypto';
import { Aes256Gcm, CipherSuite, HkdfSha256 } from '@hpke/core';
import { DhkemX25519HkdfSha256 } from '@hpke/dhkem-x25519';

/** RFC 9180 §7 identifiers, as the encryption-key endpoint publishes them. */
export const HPKE_KEM_ID = 0x0020; // DHKEM(X25519, HKDF-SHA256)
export const HPKE_KDF_ID = 0x0001; // HKDF-SHA256
export const HPKE_AEAD_ID = 0x0002; // AES-256-GCM
export const ENV_INFO = 'easyenclave/env/v1';
/** Raw X25519 public key size. */
export const PUBLIC_KEY_BYTES = 32;
/** Largest env plaintext accepted (bytes of JSON). */
export const MAX_ENV_PLAINTEXT_BYTES = 64 * 1024;
/** Largest `ct` accepted (base64url characters): the plaintext cap plus the 16-byte tag, base64url-encoded. */
export const MAX_ENV_CT_CHARS = Math.ceil(((MAX_ENV_PLAINTEXT_BYTES + 16) * 4) / 3) + 4;

export interface EncryptedEnv {
  /** base64url of the HPKE encapsulated key (32 bytes for X25519). */
  enc: string;
  /** base64url of the AEAD ciphertext (plaintext + 16-byte tag). */
  ct: string;
}

export type EnvOpenErrorCode = 'malformed' | 'not_for_this_agent_or_deployment' | 'bad_plaintext';

/** Why an envelope does not open (typed; callers branch on `code`). */
export class EnvOpenError extends Error {
  override readonly name = 'EnvOpenError';
  constructor(
    readonly code: EnvOpenErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const suite = () => new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });
const utf8 = new TextEncoder();

export const b64url = (b: Uint8Array | ArrayBuffer): string =>
  Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString('base64url');

/** Strict base64url (no padding) → bytes; null when it is not. */
export function fromB64url(s: string): Uint8Array | null {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]*$/.test(s)) return null;
  const bytes = Buffer.from(s, 'base64url');
  return bytes.toString('base64url') === s ? new Uint8Array(bytes) : null;
}

/** The associated data of an env envelope: deployment id ‖ 0x00 ‖ agent id. */
export function envAad(deploymentId: string, agentId: string): Uint8Array {
  const d = utf8.encode(deploymentId);
  const a = utf8.encode(agentId);
  const out = new Uint8Array(d.length + 1 + a.length);
  out.set(d, 0);
  out.set(a, d.length + 1);
  return out;
}

/** SHA-256 of the raw public key: the 32 bytes an agent puts in REPORTDATA 32..64. */
export function keyBinding(publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(publicKey).digest());
}

export const keyBindingHex = (publicKey: Uint8Array): string => Buffer.from(keyBinding(publicKey)).toString('hex');

/** A public key as served (base64url of 32 raw bytes) → bytes, or null when it is not one. */
export function parsePublicKey(b64: string): Uint8Array | null {
  const k = fromB64url(b64);
  return k && k.length === PUBLIC_KEY_BYTES ? k : null;
}

export interface EnvKeyPair {
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

/** A fresh X25519 key pair, raw bytes. */
export async function generateEnvKeyPair(): Promise<EnvKeyPair> {
  const s = suite();
  const kp = await s.kem.generateKeyPair();
  return {
    publicKey: new Uint8Array(await s.kem.serializePublicKey(kp.publicKey)),
    privateKey: new Uint8Array(await s.kem.serializePrivateKey(kp.privateKey)),
  };
}

/**
 * Names a tenant's secret env may not set: they would steer the agent's own `docker compose` call (another daemon,
 * another project or compose file, a library preloaded into it) rather than configure the workload.
 */
export const RESERVED_ENV = /^(?:PATH|HOME|SHELL|TMPDIR|LD_.*|NODE_.*|DOCKER_.*|COMPOSE_.*|BUILDKIT_.*)$/;

/** Shell-like names (not RESERVED_ENV) to string values without NUL: what the agent passes to `docker compose`. */
export function validateEnvMap(env: unknown): Record<string, string> {
  if (typeof env !== 'object' || env === null || Array.isArray(env)) {
    throw new EnvOpenError('bad_plaintext', 'encrypted_env plaintext is not a JSON object of names to values');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env as Record<string, unknown>)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) {
      throw new EnvOpenError('bad_plaintext', `encrypted_env name ${JSON.stringify(k.slice(0, 64))} is not valid`);
    }
    if (RESERVED_ENV.test(k)) {
      throw new EnvOpenError('bad_plaintext', `encrypted_env may not set ${k} (it would configure the agent's docker)`);
    }
    if (typeof v !== 'string') throw new EnvOpenError('bad_plaintext', `encrypted_env value of ${k} is not a string`);
    if (v.includes('\0')) throw new EnvOpenError('bad_plaintext', `encrypted_env value of ${k} contains NUL`);
    out[k] = v;
  }
  return out;
}

/** Seals an env map to an agent's public key for one deployment. */
export async function sealEnv(input: {
  publicKey: Uint8Array;
  env: Record<string, string>;
  deploymentId: string;
  agentId: string;
}): Promise<EncryptedEnv> {
  const env = validateEnvMap(input.env);
  const pt = utf8.encode(JSON.stringify(env));
  if (pt.length > MAX_ENV_PLAINTEXT_BYTES) throw new RangeError(`env exceeds ${MAX_ENV_PLAINTEXT_BYTES} bytes`);
  const s = suite();
  const recipientPublicKey = await s.kem.deserializePublicKey(input.publicKey);
  const r = await s.seal(
    { recipientPublicKey, info: utf8.encode(ENV_INFO) },
    pt,
    envAad(input.deploymentId, input.agentId),
  );
  return { enc: b64url(r.enc), ct: b64url(r.ct) };
}

/** Opens an envelope with the agent's key pair, for `deploymentId` on `agentId`; throws EnvOpenError. */
export async function openEnv(input: {
  keyPair: EnvKeyPair;
  envelope: EncryptedEnv;
  deploymentId: string;
  agentId: string;
}): Promise<Record<string, string>> {
  const enc = fromB64url(input.envelope?.enc);
  const ct = fromB64url(input.envelope?.ct);
  if (!enc || enc.length !== PUBLIC_KEY_BYTES || !ct || ct.length < 16) {
    throw new EnvOpenError('malformed', 'encrypted_env is not an HPKE envelope {enc, ct} (base64url)');
  }
  const s = suite();
  const recipientKey = await s.kem.importKey('raw', input.keyPair.privateKey, false);
  let pt: ArrayBuffer;
  try {
    pt = await s.open(
      { recipientKey, enc, info: utf8.encode(ENV_INFO) },
      ct,
      envAad(input.deploymentId, input.agentId),
    );
  } catch {
    throw new EnvOpenError(
      'not_for_this_agent_or_deployment',
      `encrypted_env does not open on agent ${input.agentId} for deployment ${input.deploymentId}: it was ` +
        'encrypted to another agent’s key or for another deployment (encrypt it again for this one)',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(pt));
  } catch {
    throw new EnvOpenError('bad_plaintext', 'encrypted_env plaintext is not UTF-8 JSON');
  }
  return validateEnvMap(parsed);
}

/** dotenv text → env map: `NAME=value`, `export NAME=value`, `#` comments, single or double quotes (\n in double). */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) throw new SyntaxError(`env file line ${i + 1} is not NAME=value`);
    let v = m[2]!;
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
      v = v.slice(1, -1).replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
    } else if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) {
      v = v.slice(1, -1);
    } else {
      v = v.replace(/\s+#.*$/, '').trim();
    }
    out[m[1]!] = v;
  });
  return out;
}
