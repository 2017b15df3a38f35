import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  configFromCmdline,
  loadRawConfig,
  normalizeItaUrl,
  parseConfig,
  resolveDatacenter,
} from '../../agent/core/config';

const base = { intel_api_key: 'k', control_plane_url: 'http://cp.example:8080' };
const keyOf = (raw: unknown, env = {}) => {
  try {
    parseConfig(raw, env);
    return 'no error';
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain((err as ConfigError).key ?? 'configuration');
    return (err as ConfigError).key;
  }
};

describe('agent config', () => {
  it('names the offending key for each missing or invalid value', () => {
    expect(keyOf({ control_plane_url: 'http://cp' })).toBe('intel_api_key');
    expect(keyOf({ ...base, control_plane_url: 'ftp://x' })).toBe('control_plane_url');
    expect(keyOf({ ...base, mode: 'proxy' })).toBe('mode');
    expect(keyOf({ ...base, admin_port: 70000 })).toBe('admin_port');
    expect(keyOf({ ...base, heartbeat_interval: 0 })).toBe('heartbeat_interval');
    expect(keyOf({ ...base, cp_to_agent_attestation_mode: 'strict' })).toBe('cp_to_agent_attestation_mode');
    expect(keyOf({ ...base, vm_name: 'bad name' })).toBe('vm_name');
    expect(keyOf({ ...base, mode: 'control-plane' })).toBe('control_plane_image');
    expect(keyOf([1])).toBe(null);
    expect(keyOf({ attestation: 'insecure-local' })).toBe('no error'); // no ITA key needed
    expect(keyOf({ mode: 'measure' })).toBe('no error');
  });

  it('applies env fallbacks only where the config is silent, and normalises URLs', () => {
    const cfg = parseConfig(
      { intel_api_key: 'k', ita_api_url: 'https://ita.example/appraisal/v1/' },
      { EASYENCLAVE_URL: 'http://cp.local:8080/', ITA_API_KEY: 'ignored', EASYENCLAVE_DEFAULT_SIZE: 'STANDARD' },
    );
    expect(cfg).toMatchObject({
      control_plane_url: 'http://cp.local:8080',
      intel_api_key: 'k',
      ita_api_url: 'https://ita.example',
      node_size: 'standard',
      admin_port: 8081,
      heartbeat_interval: 3600,
    });
    expect(normalizeItaUrl('https://api.trustauthority.intel.com/appraisal/v2')).toBe(
      'https://api.trustauthority.intel.com',
    );
  });

  it('reads the kernel cmdline: configz first, an undecodable param skipped, nested objects kept', () => {
    const plain = Buffer.from(JSON.stringify({ mode: 'control-plane', port: 8080, intel_api_key: 'abc123' })).toString(
      'base64',
    );
    expect(configFromCmdline(`console=ttyS0 easyenclave.config=${plain} ro`)).toEqual({
      mode: 'control-plane',
      port: 8080,
      intel_api_key: 'abc123',
    });
    const nested = { trusted_agent_rtmrs_by_size: { tiny: { rtmr0: 'aa' } } };
    const z = deflateSync(Buffer.from(JSON.stringify(nested)), { level: 9 })
      .toString('base64')
      .replace(/=+$/, '');
    const warnings: string[] = [];
    expect(configFromCmdline(`easyenclave.config=!!! easyenclave.configz=${z}`, (m) => warnings.push(m))).toEqual(
      nested,
    );
    expect(configFromCmdline('easyenclave.config=!!!', (m) => warnings.push(m))).toBeNull();
    expect(warnings.join()).toContain('easyenclave.config');
  });

  it('takes the first source that parses: EASYENCLAVE_CONFIG, then /etc, then a config drive, then the cmdline', () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-cfg-'));
    const f = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const cmdline = f('cmdline', `easyenclave.config=${Buffer.from('{"vm_name":"from-cmdline"}').toString('base64')}`);
    const drive = f('sr0', '');
    const etc = f('etc.json', '{"vm_name":"from-etc"}');
    const broken = f('broken.json', '{not json');
    const readDrive = () => '{"vm_name":"from-drive"}';
    const load = (env: Record<string, string>, etcPath: string, drives: string[]) =>
      loadRawConfig({ env, etcPath, cmdlinePath: cmdline, configDrives: drives, readDrive }).raw.vm_name;
    expect(load({ EASYENCLAVE_CONFIG: f('env.json', '{"vm_name":"from-env"}') }, etc, [drive])).toBe('from-env');
    expect(load({ EASYENCLAVE_CONFIG: broken }, etc, [drive])).toBe('from-etc');
    expect(load({ EASYENCLAVE_CONFIG: '/dev/null' }, join(dir, 'none'), [drive])).toBe('from-drive');
    expect(load({}, join(dir, 'none'), [join(dir, 'no-drive')])).toBe('from-cmdline');
  });

  it('resolves the datacenter label as v1 did', () => {
    const dc = (raw: Record<string, unknown>, env = {}) => resolveDatacenter(parseConfig({ ...base, ...raw }), env);
    expect(dc({ datacenter: 'GCP:us-central1-a' })).toBe('GCP:us-central1-a');
    expect(dc({ cloud_provider: 'Google', zone: 'US-Central1-A' })).toBe('gcp:us-central1-a');
    expect(dc({ cloud_provider: 'az', region: 'eastus' })).toBe('azure:eastus');
    expect(dc({ cloud_provider: 'on-prem' })).toBe('baremetal:default');
    expect(dc({ cloud_provider: 'gcp' }, { EASYENCLAVE_DEFAULT_DATACENTER: 'GCP:X' })).toBe('gcp:x');
    expect(dc({})).toBe('baremetal:default');
  });
});
