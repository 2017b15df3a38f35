/**
 * The repository's GitHub workflows, checked as data: CI runs exactly .ci/run; the release builds, tests, checks
 * the committed action bundles, builds the image twice and publishes the agent, the launcher, the image and the
 * trust bundle; the tenant example deploys with OIDC (id-token: write, no secret); and every step that uses one
 * of our actions passes only inputs its action.yml declares.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = new URL('../..', import.meta.url).pathname;
const WF = join(ROOT, '.github/workflows');
type Step = { uses?: string; run?: string; with?: Record<string, string>; name?: string };
type Workflow = {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  jobs: Record<
    string,
    { steps: Step[]; 'runs-on': unknown; if?: string; needs?: string[]; permissions?: Record<string, string> }
  >;
};
const load = (f: string) => parse(readFileSync(join(WF, f), 'utf8')) as Workflow;
const steps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);
const runs = (w: Workflow) =>
  steps(w)
    .map((s) => s.run ?? '')
    .join('\n');

describe('GitHub workflows', () => {
  it('ci.yml runs what .ci/run does, on pushes and pull requests', () => {
    const ci = load('ci.yml');
    expect(Object.keys(ci.on)).toEqual(expect.arrayContaining(['push', 'pull_request']));
    expect(runs(ci)).toContain('bash .ci/run');
  });

  it('release.yml builds, tests and attaches the bundles, the image and the trust bundle on a tag', () => {
    const r = load('release.yml');
    expect((r.on.push as { tags: string[] }).tags).toEqual(['v*']);
    const all = runs(r);
    expect(all).toContain('bash .ci/run');
    expect(all).toContain('scripts/build-actions.ts --check');
    expect(all).toContain('npm run build:agent');
    expect(all).toContain('npm run build:launcher');
    expect(all).toMatch(/image\/build\.sh[\s\S]*image\/build\.sh[\s\S]*diff build-a\/SHA256SUMS build-b\/SHA256SUMS/);
    expect(all).toContain('image/expected-measurements --firmware');
    expect(all).toMatch(
      /gh release upload[\s\S]*ee-agent\.mjs[\s\S]*ee\.mjs[\s\S]*easyenclave-image-[\s\S]*trusted_values\.json/,
    );
    // Only the publishing job may write; the TDX job runs only where a TDX runner exists.
    expect(r.permissions).toEqual({ contents: 'read' });
    expect(r.jobs.publish!.permissions).toEqual({ contents: 'write' });
    expect(r.jobs.measure!['runs-on']).toEqual(['self-hosted', 'tdx']);
    expect(r.jobs.measure!.if).toBe("vars.TDX_RUNNER == 'true'");
  });

  it('the tenant example deploys on push with the OIDC token (id-token: write) and no secret', () => {
    const e = load('example-deploy.yml');
    expect(e.on).toHaveProperty('push');
    expect(e.permissions).toMatchObject({ 'id-token': 'write' });
    const text = readFileSync(join(WF, 'example-deploy.yml'), 'utf8');
    expect(text).not.toMatch(/secrets\./);
    const deploy = steps(e).filter((s) => s.uses?.includes('/.github/actions/deploy@'));
    expect(deploy.length).toBeGreaterThanOrEqual(1);
    expect(deploy.some((s) => s.with?.dry_run === 'true')).toBe(true);
  });

  it('every use of our actions passes only declared inputs and all required ones', () => {
    let checked = 0;
    for (const f of readdirSync(WF)) {
      for (const s of steps(load(f))) {
        const m = /^(?:\.\/|easyenclave\/easyenclave\/)\.github\/actions\/([a-z-]+)(?:@.+)?$/.exec(s.uses ?? '');
        if (!m) continue;
        const meta = parse(readFileSync(join(ROOT, '.github/actions', m[1]!, 'action.yml'), 'utf8')) as {
          inputs: Record<string, { required?: boolean }>;
        };
        for (const k of Object.keys(s.with ?? {}))
          expect(Object.keys(meta.inputs), `${f}: ${m[1]} input ${k}`).toContain(k);
        for (const [k, v] of Object.entries(meta.inputs))
          if (v.required) expect(s.with, `${f}: ${k}`).toHaveProperty(k);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(2);
  });
});
