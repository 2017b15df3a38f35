/**
 * The config-drive ISO, end to end on real images: made by the real `genisoimage` with the launcher's flags
 * (launcher/core/vm.ts) and with the other name schemes, read by the agent's own reader (agent/core/config-drive.ts)
 * through `loadRawConfig` with no injected reader.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRawConfig } from '../../agent/core/config';
import { ConfigDriveError, readConfigDrive } from '../../agent/core/config-drive';

let dir: string;

/** A config larger than the kernel cmdline takes (what makes the launcher write a drive), non-ASCII included. */
const CONFIG = {
  mode: 'agent',
  vm_name: 'drive-vm',
  control_plane_url: 'http://cp.example:8080',
  trusted_proxy_mrtds: Array.from({ length: 60 }, (_, i) => i.toString(16).padStart(2, '0').repeat(48)).join(','),
  note: 'zürich – 東京',
};

function iso(name: string, flags: string[], files: Record<string, string>): string {
  const src = mkdtempSync(join(dir, 'src-'));
  for (const [f, text] of Object.entries(files)) writeFileSync(join(src, f), text);
  const out = join(dir, `${name}.iso`);
  const g = spawnSync(
    'genisoimage',
    ['-quiet', '-output', out, '-volid', 'EE_CONFIG', ...flags, ...Object.keys(files)],
    {
      cwd: src,
      encoding: 'utf8',
    },
  );
  expect(g.status, g.stderr).toBe(0);
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'agent-drive-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('config-drive ISO', () => {
  it("reads config.json from the launcher's image (-joliet -rock) through loadRawConfig's default reader", () => {
    const text = JSON.stringify(CONFIG, null, 2) + '\n';
    expect(text.length).toBeGreaterThan(2048 * 2); // spans several sectors
    const drive = iso('launcher', ['-joliet', '-rock'], { 'config.json': text, 'README.txt': 'not the config\n' });
    const loaded = loadRawConfig({
      env: { EASYENCLAVE_CONFIG_DRIVE: drive },
      etcPath: join(dir, 'no-etc.json'),
      cmdlinePath: join(dir, 'no-cmdline'),
    });
    expect(loaded.source).toBe(`config drive ${drive}`);
    expect(loaded.raw).toEqual(CONFIG);
  });

  it('finds the file under each name scheme: Joliet only, Rock Ridge only, plain ISO 9660 (8.3 name)', () => {
    const text = JSON.stringify(CONFIG);
    for (const [name, flags] of [
      ['joliet', ['-joliet']],
      ['rock', ['-rock']],
      ['plain', []],
    ] as const) {
      expect(readConfigDrive(iso(name, [...flags], { 'config.json': text })), name).toBe(text);
    }
  });

  it('an image without config.json, or a file that is no ISO, falls through to the next source', () => {
    const cmdline = join(dir, 'cmdline');
    writeFileSync(cmdline, `easyenclave.config=${Buffer.from('{"vm_name":"from-cmdline"}').toString('base64')}`);
    const empty = iso('empty', ['-joliet', '-rock'], { 'other.json': '{"vm_name":"wrong-file"}' });
    expect(readConfigDrive(empty)).toBeNull();
    const notIso = join(dir, 'not-an-iso');
    writeFileSync(notIso, Buffer.alloc(64 * 1024, 7));
    expect(() => readConfigDrive(notIso)).toThrow(ConfigDriveError);
    const warnings: string[] = [];
    const log = { warn: (m: string) => warnings.push(m) } as never;
    const loaded = loadRawConfig({
      env: {},
      etcPath: join(dir, 'no-etc.json'),
      cmdlinePath: cmdline,
      configDrives: [join(dir, 'missing-device'), empty, notIso],
      log,
    });
    expect(loaded.raw).toEqual({ vm_name: 'from-cmdline' });
    expect(warnings.join('\n')).toContain(`ignoring config drive ${notIso}: ${notIso}: not an ISO 9660 image`);
  });
});
