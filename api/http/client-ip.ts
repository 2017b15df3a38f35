/**
 * The one place the API decides who the client is (rate limits, session records, log lines). The socket
 * peer is the client unless it is one of the configured trusted proxies (`api.trusted_proxies`); only then
 * is `X-Forwarded-For` read, right to left, skipping further trusted hops, so a client cannot choose its
 * own address by sending the header itself.
 */
import { BlockList, isIP } from 'node:net';

/** `::ffff:203.0.113.7` (an IPv4 peer on a dual-stack socket) → `203.0.113.7`. */
export function normalizeIp(ip: string): string {
  const v = ip.trim();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(v);
  return mapped ? mapped[1]! : v;
}

export interface TrustedProxies {
  has(ip: string): boolean;
  readonly empty: boolean;
}

/** Parses a comma list of IPs and CIDRs; entries that are neither are returned in `invalid`. */
export function parseTrustedProxies(value: string): { proxies: TrustedProxies; invalid: string[] } {
  const list = new BlockList();
  const invalid: string[] = [];
  let count = 0;
  for (const raw of value.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const [addr, bits, extra] = entry.split('/');
    const ip = normalizeIp(addr ?? '');
    const family = isIP(ip);
    const prefix = bits === undefined ? undefined : Number(bits);
    const max = family === 6 ? 128 : 32;
    if (
      family === 0 ||
      extra !== undefined ||
      (prefix !== undefined && !(Number.isInteger(prefix) && prefix >= 0 && prefix <= max))
    ) {
      invalid.push(entry);
      continue;
    }
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(ip, type);
    else list.addSubnet(ip, prefix, type);
    count += 1;
  }
  return {
    invalid,
    proxies: {
      empty: count === 0,
      has(candidate: string) {
        const ip = normalizeIp(candidate);
        const family = isIP(ip);
        return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
      },
    },
  };
}

/** The client address for a request whose socket peer is `peer` and whose X-Forwarded-For header is `xff`. */
export function resolveClientIp(peer: string, xff: string | undefined, trusted: TrustedProxies): string {
  const socketIp = normalizeIp(peer);
  if (trusted.empty || !trusted.has(socketIp) || !xff) return socketIp;
  const hops = xff
    .split(',')
    .map(normalizeIp)
    .filter((h) => h !== '');
  for (let i = hops.length - 1; i >= 0; i -= 1) {
    const hop = hops[i]!;
    if (isIP(hop) === 0) return socketIp; // a forged or garbled entry: trust nothing beyond the proxy
    if (!trusted.has(hop)) return hop;
  }
  return hops[0] ?? socketIp;
}

/**
 * resolveClientIp over a raw `api.trusted_proxies` value, parsed once per distinct value (settings repeat, so CIDR
 * parsing is not paid per request). One per caller (an app's middleware, a fast path), never module state.
 */
export function clientIpResolver(): (trustedProxies: string, peer: string, xff: string | undefined) => string {
  let parsed: { raw: string; proxies: TrustedProxies } | null = null;
  return (raw, peer, xff) => {
    if (!parsed || parsed.raw !== raw) parsed = { raw, proxies: parseTrustedProxies(raw).proxies };
    return resolveClientIp(peer, xff, parsed.proxies);
  };
}
