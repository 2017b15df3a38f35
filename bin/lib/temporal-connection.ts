/**
 * The options every Temporal connection of a process is made with — the API's client Connection, the worker's
 * NativeConnection and its schedule client — from the process configuration (core/config.ts): the frontend address,
 * TLS (server CA, server name, mTLS client certificate) and the Temporal Cloud API key. One builder, so no
 * connection of the API or the worker can be made without the cluster's credentials.
 */
import { readFileSync } from 'node:fs';
import type { RuntimeConfig } from '../../core/config';

export interface TemporalTls {
  serverNameOverride?: string;
  serverRootCACertificate?: Buffer;
  clientCertPair?: { crt: Buffer; key: Buffer };
}

/** Fits both `Connection.connect` (@temporalio/client) and `NativeConnection.connect` (@temporalio/worker). */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TemporalTls;
  apiKey?: string;
}

export class TemporalTlsConfigError extends Error {
  override readonly name = 'TemporalTlsConfigError';
}

/** The frontend this process talks to: TEMPORAL_ADDRESS, else the embedded dev server's. */
export function temporalAddressOf(temporal: RuntimeConfig['temporal']): string {
  return temporal.address ?? `${temporal.devServer.ip}:${temporal.devServer.port}`;
}

export function temporalConnectionOptions(
  temporal: RuntimeConfig['temporal'],
  read: (path: string) => Buffer = (path) => readFileSync(path),
  address = temporalAddressOf(temporal),
): TemporalConnectionOptions {
  const out: TemporalConnectionOptions = { address };
  if (temporal.apiKey) out.apiKey = temporal.apiKey;
  const t = temporal.tls;
  if (!t) return out;
  if ((t.clientCertPath === null) !== (t.clientKeyPath === null)) {
    throw new TemporalTlsConfigError(
      'TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH go together (mTLS needs both)',
    );
  }
  const file = (path: string, what: string): Buffer => {
    try {
      return read(path);
    } catch (err) {
      throw new TemporalTlsConfigError(`cannot read ${what} ${path}: ${(err as Error).message}`);
    }
  };
  const tls: TemporalTls = {};
  if (t.serverName) tls.serverNameOverride = t.serverName;
  if (t.serverCaCertPath) tls.serverRootCACertificate = file(t.serverCaCertPath, 'TEMPORAL_TLS_SERVER_CA_CERT_PATH');
  if (t.clientCertPath && t.clientKeyPath) {
    tls.clientCertPair = {
      crt: file(t.clientCertPath, 'TEMPORAL_TLS_CLIENT_CERT_PATH'),
      key: file(t.clientKeyPath, 'TEMPORAL_TLS_CLIENT_KEY_PATH'),
    };
  }
  out.tls = tls;
  return out;
}

/** For log lines: the address and how it is secured, never the key or certificate contents. */
export function describeTemporalConnection(o: TemporalConnectionOptions): string {
  const how = [
    o.tls ? (o.tls.clientCertPair ? 'mTLS' : 'TLS') : 'plaintext',
    ...(o.apiKey ? ['API key'] : []),
    ...(o.tls?.serverNameOverride ? [`server name ${o.tls.serverNameOverride}`] : []),
  ];
  return `${o.address} (${how.join(', ')})`;
}
