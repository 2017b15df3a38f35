/**
 * How a VM's config object travels on the kernel command line (launcher.md §3.2, agent.md §2.2), in one place for
 * both ends: the launcher encodes (`encodeConfigParam`), the agent decodes (`configFromCmdline`).
 *
 * - `easyenclave.configz=<base64 of zlib(JSON)>` when strictly shorter than the plain form, else
 * - `easyenclave.config=<base64 of JSON>`.
 *
 * The JSON is compact with non-ASCII escaped (`\uXXXX`), byte-identical to v1's `json.dumps(separators=(",", ":"))`,
 * so the same config always gives the same cmdline (it is part of what a measure VM's RTMRs cover). Decoding keeps
 * v1's tolerance: missing padding, standard or URL-safe alphabet; `configz` is tried before `config`.
 * Pure: no files, no processes (node:zlib only), so the agent and the launcher may both import it.
 */
import { deflateSync, inflateSync } from 'node:zlib';

export const CONFIGZ_PARAM = 'easyenclave.configz';
export const CONFIG_PARAM = 'easyenclave.config';

/** Compact JSON with non-ASCII escaped as \uXXXX, byte-identical to v1's `json.dumps(separators=(",", ":"))`. */
export function compactJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\uffff]/g,
    (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'),
  );
}

export interface EncodedParam {
  key: typeof CONFIGZ_PARAM | typeof CONFIG_PARAM;
  value: string;
}

/** configz (zlib level 9) when strictly shorter than plain base64, else config. */
export function encodeConfigParam(config: Record<string, unknown>): EncodedParam {
  const json = Buffer.from(compactJson(config), 'utf8');
  const plain = json.toString('base64');
  const z = deflateSync(json, { level: 9 }).toString('base64');
  return z.length < plain.length ? { key: CONFIGZ_PARAM, value: z } : { key: CONFIG_PARAM, value: plain };
}

/** Decodes base64 with v1's tolerance: missing padding, standard then URL-safe alphabet. */
export function decodeLenientBase64(value: string): Buffer {
  const padded = value + '='.repeat((4 - (value.length % 4)) % 4);
  const std = /^[A-Za-z0-9+/]*=*$/.test(padded);
  const url = /^[A-Za-z0-9_-]*=*$/.test(padded);
  if (!std && !url) throw new Error('not base64');
  return Buffer.from(padded, std ? 'base64' : 'base64url');
}

function jsonObject(text: string): Record<string, unknown> {
  const v = JSON.parse(text) as unknown;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
  return v as Record<string, unknown>;
}

/** The config carried on a kernel command line, or null. Undecodable parameters are reported and skipped. */
export function configFromCmdline(
  cmdline: string,
  warn: (m: string) => void = () => {},
): Record<string, unknown> | null {
  const params = cmdline.split(/\s+/).filter(Boolean);
  const tries: [prefix: string, decode: (v: string) => string][] = [
    [`${CONFIGZ_PARAM}=`, (v) => inflateSync(decodeLenientBase64(v)).toString('utf8')],
    [`${CONFIG_PARAM}=`, (v) => decodeLenientBase64(v).toString('utf8')],
  ];
  for (const [prefix, decode] of tries) {
    for (const p of params) {
      if (!p.startsWith(prefix)) continue;
      try {
        return jsonObject(decode(p.slice(prefix.length)));
      } catch (err) {
        warn(`ignoring kernel parameter ${prefix.slice(0, -1)}: ${(err as Error).message}`);
      }
    }
  }
  return null;
}
