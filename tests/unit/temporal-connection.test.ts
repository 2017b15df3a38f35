/**
 * The Temporal connection settings of a production install (docs/production.md): TEMPORAL_TLS*, TEMPORAL_API_KEY and
 * TEMPORAL_SDK_METRICS_ADDRESS are parsed by core/config.ts, and bin/lib/temporal-connection.ts builds from them the
 * options every Connection / NativeConnection of bin/api.ts, bin/worker.ts and bin/start.ts is made with.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config';
import {
  describeTemporalConnection,
  TemporalTlsConfigError,
  temporalConnectionOptions,
} from '../../bin/lib/temporal-connection';

const dir = mkdtempSync(join(tmpdir(), 'ee-temporal-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const pem = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const CA = pem('ca.pem', '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n');
const CRT = pem('client.pem', '-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n');
const KEY = pem('client.key', '-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n');

const optionsOf = (env: Record<string, string>) => temporalConnectionOptions(loadConfig(env).temporal);

describe('Temporal connection configuration', () => {
  it('defaults: the dev server address, plaintext, no API key, no SDK metrics', () => {
    const t = loadConfig({}).temporal;
    expect(t).toMatchObject({ tls: null, apiKey: null, sdkMetricsAddress: null });
    expect(temporalConnectionOptions(t)).toEqual({ address: '127.0.0.1:7233' });
  });

  it('mTLS to a self-hosted cluster: client pair, server CA and server name from the files', () => {
    const o = optionsOf({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_TLS_CLIENT_CERT_PATH: CRT,
      TEMPORAL_TLS_CLIENT_KEY_PATH: KEY,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: CA,
      TEMPORAL_TLS_SERVER_NAME: 'frontend.temporal.internal',
    });
    expect(o.address).toBe('temporal.internal:7233');
    expect(o.apiKey).toBeUndefined();
    expect(o.tls?.serverNameOverride).toBe('frontend.temporal.internal');
    expect(o.tls?.serverRootCACertificate?.toString()).toContain('ca');
    expect(o.tls?.clientCertPair?.crt.toString()).toContain('client');
    expect(o.tls?.clientCertPair?.key.toString()).toContain('PRIVATE KEY');
    expect(describeTemporalConnection(o)).toBe('temporal.internal:7233 (mTLS, server name frontend.temporal.internal)');
  });

  it('Temporal Cloud with an API key: TLS with the system roots, the key on the connection, never in the log line', () => {
    const o = optionsOf({
      TEMPORAL_ADDRESS: 'us-east-1.aws.api.temporal.io:7233',
      TEMPORAL_NAMESPACE: 'acme.a1b2c',
      TEMPORAL_API_KEY: 'secret-api-key',
    });
    expect(o).toEqual({ address: 'us-east-1.aws.api.temporal.io:7233', apiKey: 'secret-api-key', tls: {} });
    expect(loadConfig({ TEMPORAL_NAMESPACE: 'acme.a1b2c' }).temporal.namespace).toBe('acme.a1b2c');
    expect(describeTemporalConnection(o)).toBe('us-east-1.aws.api.temporal.io:7233 (TLS, API key)');
    expect(describeTemporalConnection(o)).not.toContain('secret-api-key');
  });

  it('TEMPORAL_TLS turns TLS on alone, and off even when other TLS variables are set', () => {
    expect(optionsOf({ TEMPORAL_ADDRESS: 'h:7233', TEMPORAL_TLS: 'true' })).toEqual({ address: 'h:7233', tls: {} });
    expect(optionsOf({ TEMPORAL_ADDRESS: 'h:7233', TEMPORAL_TLS: 'false', TEMPORAL_TLS_SERVER_NAME: 'x' })).toEqual({
      address: 'h:7233',
    });
  });

  it('refuses half an mTLS pair and unreadable files, naming the variable', () => {
    expect(() => optionsOf({ TEMPORAL_TLS_CLIENT_CERT_PATH: CRT })).toThrow(TemporalTlsConfigError);
    expect(() => optionsOf({ TEMPORAL_TLS_CLIENT_KEY_PATH: KEY })).toThrow(/CLIENT_CERT_PATH and .*KEY_PATH/);
    expect(() => optionsOf({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: join(dir, 'missing.pem') })).toThrow(
      /TEMPORAL_TLS_SERVER_CA_CERT_PATH .*missing\.pem/,
    );
  });

  it('TEMPORAL_SDK_METRICS_ADDRESS is the SDK exporter bind address', () => {
    expect(loadConfig({ TEMPORAL_SDK_METRICS_ADDRESS: ' 0.0.0.0:9464 ' }).temporal.sdkMetricsAddress).toBe(
      '0.0.0.0:9464',
    );
  });
});
