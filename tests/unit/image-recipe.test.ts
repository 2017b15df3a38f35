/**
 * The image recipe, checked without building it (no root, no KVM): shellcheck-clean scripts, the mkosi settings
 * reproducibility depends on, every outside input pinned in pins.env and used by exact version, the agent unit
 * pointing at the file build.sh installs, no private key, and `build.sh --plan` naming the snapshot mirror.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const IMAGE = new URL('../../image', import.meta.url).pathname;
const read = (p: string) => readFileSync(join(IMAGE, p), 'utf8');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

/** mkosi's INI: `[Section]`, `Key=value`, indented continuation lines. */
function ini(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = '';
  let key = '';
  for (const line of text.split('\n')) {
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const s = /^\[(\w+)\]$/.exec(line);
    if (s) {
      section = s[1]!;
      out[section] ??= {};
      continue;
    }
    if (/^\s/.test(line)) {
      out[section]![key]!.push(line.trim());
      continue;
    }
    const i = line.indexOf('=');
    key = line.slice(0, i);
    out[section]![key] = [line.slice(i + 1)];
  }
  return out;
}

const pins = Object.fromEntries(
  read('pins.env')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);

describe('image recipe', () => {
  it('every shell script is executable and shellcheck-clean', () => {
    const scripts = [
      'build.sh',
      'expected-measurements',
      'mkosi.postinst',
      'mkosi.finalize',
      'mkosi.skeleton/usr/local/bin/setup-data-disk.sh',
    ];
    for (const s of scripts) expect(statSync(join(IMAGE, s)).mode & 0o111, s).not.toBe(0);
    const r = spawnSync('shellcheck', ['-x', '-P', 'SCRIPTDIR', ...scripts], { cwd: IMAGE });
    expect(r.error, 'shellcheck (installed by .ci/run)').toBeUndefined();
    expect(r.stdout.toString() + r.stderr.toString()).toBe('');
    expect(r.status).toBe(0);
  });

  it('mkosi.conf keeps what reproducibility needs, and agrees with pins.env', () => {
    const c = ini(read('mkosi.conf'));
    expect(c.Distribution).toMatchObject({ Distribution: ['ubuntu'], Release: [pins.UBUNTU_RELEASE] });
    expect(c.Output).toMatchObject({
      Format: ['disk'],
      SplitArtifacts: ['yes'],
      CompressOutput: ['no'],
      Seed: [pins.IMAGE_SEED],
      SourceDateEpoch: [pins.SOURCE_DATE_EPOCH],
    });
    expect(c.Content!.KernelModulesInitrdInclude).toEqual(['dm-verity', 'dm-mod', 'squashfs']);
    expect(c.Content!.FinalizeScripts).toEqual(['mkosi.finalize']);
    expect(ini(read('mkosi.repart/10-root.conf')).Partition).toMatchObject({
      Format: ['squashfs'],
      Verity: ['data'],
      ReadOnly: ['yes'],
    });
    expect(ini(read('mkosi.repart/20-root-verity.conf')).Partition).toMatchObject({ Verity: ['hash'] });
  });

  it('every outside input is pinned: a dated snapshot, and vendor packages only by exact version', () => {
    expect(pins.UBUNTU_SNAPSHOT).toMatch(/^\d{8}T\d{6}Z$/);
    for (const k of [
      'KERNEL_PACKAGE',
      'NODE_VERSION',
      'DOCKER_VERSION',
      'CONTAINERD_VERSION',
      'COMPOSE_VERSION',
      'CLOUDFLARED_VERSION',
      'MKOSI_VERSION',
    ]) {
      expect(pins[k], k).toMatch(/\d/);
    }
    expect(pins.KERNEL_PACKAGE).toMatch(/^linux-image-\d+\.\d+\.\d+-\d+-generic$/);
    const postinst = read('mkosi.postinst');
    const lines = postinst.split('\n');
    const start = lines.findIndex((l) => l.startsWith('apt-get install'));
    let end = start;
    while (lines[end]!.trimEnd().endsWith('\\')) end++;
    const pkgs = lines
      .slice(start, end + 1)
      .join(' ')
      .split(/\s+/)
      .filter((w) => w.startsWith('"'));
    expect(pkgs.length).toBeGreaterThanOrEqual(7);
    for (const p of pkgs) expect(p, `${p} must be pinned`).toMatch(/^"(\$\{KERNEL_PACKAGE\}|[a-z.-]+=\$\{[A-Z_]+\})"$/);
    expect(postinst).not.toMatch(/:latest|releases\/latest/);
    // build.sh hands every pin used by postinst to mkosi.
    for (const v of postinst.matchAll(/\$\{([A-Z_]+)(?::\?)?\}/g)) expect(read('build.sh')).toContain(v[1]!);
  });

  it('the agent unit runs the bundle build.sh installs, after the data disk; no private key anywhere', () => {
    const unit = read('mkosi.skeleton/etc/systemd/system/ee-agent.service');
    expect(unit).toContain('ExecStart=/usr/bin/node /opt/easyenclave/ee-agent.mjs');
    expect(unit).toMatch(/Requires=data-disk\.service/);
    expect(read('build.sh')).toContain('mkosi.extra/opt/easyenclave/ee-agent.mjs');
    for (const f of walk(IMAGE).filter((p) => !p.includes('/tests/fixtures/'))) {
      expect(readFileSync(f, 'utf8'), relative(IMAGE, f)).not.toMatch(/BEGIN [A-Z ]*PRIVATE KEY/);
    }
  });

  it('build.sh --plan builds nothing and names the pinned mirror and versions', () => {
    // printf %q escapes : and ~; compare unescaped.
    const out = execFileSync(join(IMAGE, 'build.sh'), ['--plan']).toString().replace(/\\/g, '');
    expect(out).toContain(`--mirror https://snapshot.ubuntu.com/ubuntu/${pins.UBUNTU_SNAPSHOT}`);
    expect(out).toContain(`--environment DOCKER_VERSION=${pins.DOCKER_VERSION}`);
    expect(out).toContain(`--seed ${pins.IMAGE_SEED}`);
  });
});
