/**
 * The committed JavaScript actions match their source: each `.github/actions/<name>/dist/index.mjs` is exactly what
 * `npm run build:actions` builds from `actions/<name>/`, and each action.yml declares exactly the inputs the code
 * reads and the outputs it writes (so the README/usage and the behaviour cannot drift apart).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ACTIONS, bundleAction, bundlePath } from '../../scripts/build-actions';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Inputs/outputs named in the code an action bundles: its own folder plus the shared lib. */
function namesIn(name: string, re: RegExp): Set<string> {
  const files = [
    ...readdirSync(join(ROOT, 'actions', name)).map((f) => join(ROOT, 'actions', name, f)),
    ...readdirSync(join(ROOT, 'actions', 'lib')).map((f) => join(ROOT, 'actions', 'lib', f)),
  ];
  const found = new Set<string>();
  for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(re)) found.add(m[1]!);
  return found;
}

describe.each(ACTIONS)('action %s', (name) => {
  const dir = join(ROOT, '.github', 'actions', name);
  const meta = parse(readFileSync(join(dir, 'action.yml'), 'utf8')) as {
    inputs: Record<string, { required?: boolean; default?: string; description: string }>;
    outputs: Record<string, { description: string }>;
    runs: { using: string; main: string };
  };

  it('the committed bundle is up to date with actions/ (run npm run build:actions)', async () => {
    expect(readFileSync(bundlePath(name), 'utf8')).toBe(await bundleAction(name));
  });

  it('action.yml runs the bundle on node20 and declares every input read and every output written', () => {
    expect(meta.runs).toEqual({ using: 'node20', main: 'dist/index.mjs' });
    expect(existsSync(join(dir, meta.runs.main))).toBe(true);
    const read = namesIn(name, /get(?:Boolean|Int|List)?Input\(io, '([a-z_-]+)'/g);
    // The shared lib reads api_key/audience/control_plane_url for every action.
    expect([...read].sort()).toEqual(Object.keys(meta.inputs).sort());
    const written = namesIn(name, /setOutput\(io, '([a-z_]+)'/g);
    expect([...written].sort()).toEqual(Object.keys(meta.outputs ?? {}).sort());
    for (const [k, v] of Object.entries(meta.inputs)) expect(v.description, k).toBeTruthy();
  });

  it('has a README with a usage example naming its inputs', () => {
    const readme = readFileSync(join(dir, 'README.md'), 'utf8');
    expect(readme).toContain(`uses: easyenclave/easyenclave/.github/actions/${name}@`);
    for (const input of Object.keys(meta.inputs)) expect(readme, input).toContain(`\`${input}\``);
  });
});
