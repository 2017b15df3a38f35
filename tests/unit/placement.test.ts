import { describe, expect, it } from 'vitest';
import { cloudOf, evaluatePlacement, type PlacementAgent, type PlacementInput } from '../../core/placement';

const agent = (id: string, over: Partial<PlacementAgent> = {}): PlacementAgent => ({
  agent_id: id,
  status: 'undeployed',
  node_size: 'tiny',
  datacenter: 'gcp:us-central1-a',
  verified: true,
  verification_error: null,
  hostname: `agent-${id}.example.com`,
  health_status: 'healthy',
  deployed_app: null,
  github_owner: null,
  ...over,
});
const input = (agents: PlacementAgent[], request: Partial<PlacementInput['request']> = {}): PlacementInput => ({
  request: {
    appName: 'app',
    nodeSize: '',
    allowedDatacenters: [],
    deniedDatacenters: [],
    allowedClouds: [],
    deniedClouds: [],
    allowMeasuringEnclaveFallback: false,
    ...request,
  },
  owner: { identities: [], allowUnowned: true, label: 'test' },
  agents,
  enabledTargets: [],
  caller: { account_id: 'acct-me', github_owner: null },
});

describe('placement', () => {
  it('normalizes cloud aliases', () => {
    expect(cloudOf('Google:x')).toBe('gcp');
    expect(cloudOf('on-prem:rack1')).toBe('baremetal');
    expect(cloudOf('')).toBe('');
  });

  it('uses a measuring enclave only with the fallback allowed, after free agents', () => {
    const measurer = agent('m', { status: 'deployed', deployed_app: 'measuring-enclave-tiny' });
    expect(evaluatePlacement(input([measurer])).error?.detail).toMatch(/allow_measuring_enclave_fallback is false/);
    const free = agent('f');
    const r = evaluatePlacement(input([measurer, free], { allowMeasuringEnclaveFallback: true }));
    expect(r.candidates).toEqual([
      { agentId: 'f', expectedStatus: 'undeployed' },
      { agentId: 'm', expectedStatus: 'deployed', expectedApp: 'measuring-enclave-tiny' },
    ]);
  });

  it('answers NO_VERIFIED_CAPACITY when a warm policy is in scope and no verified agent matches', () => {
    const r = evaluatePlacement({
      ...input([agent('u', { verified: false })]),
      enabledTargets: [{ datacenter: 'gcp:us-central1-a', node_size: 'tiny' }],
    });
    expect(r.error).toMatchObject({ status: 503, code: 'NO_VERIFIED_CAPACITY' });
  });

  it('lets an explicit agent be an upgrade of the same app only', () => {
    const running = agent('r', {
      status: 'deployed',
      deployed_app: 'app',
      current_deployment: { account_id: 'acct-me', github_owner: null },
    });
    expect(evaluatePlacement(input([running], { agentId: 'r' })).candidates).toEqual([
      { agentId: 'r', expectedStatus: 'deployed', expectedApp: 'app' },
    ]);
    expect(evaluatePlacement(input([running], { agentId: 'r', appName: 'other' })).error?.code).toBe(
      'EXPLICIT_AGENT_NOT_ALLOWED',
    );
    expect(evaluatePlacement(input([], { agentId: 'x' })).error).toMatchObject({ status: 404 });
  });

  it('allows an upgrade only of the caller’s own running deployment (account or OIDC owner)', () => {
    const theirs = agent('r', {
      status: 'deployed',
      deployed_app: 'app',
      current_deployment: { account_id: 'acct-victim', github_owner: 'victim-org' },
    });
    const stranger = evaluatePlacement(input([theirs], { agentId: 'r' }));
    expect(stranger.error).toMatchObject({ status: 403, code: 'DEPLOYMENT_NOT_OWNED' });
    expect(stranger.candidates).toEqual([]);
    // unknown owner (no deployment row found) is not the caller's either
    expect(
      evaluatePlacement(input([agent('r', { status: 'deployed', deployed_app: 'app' })], { agentId: 'r' })).error?.code,
    ).toBe('DEPLOYMENT_NOT_OWNED');
    const sameOidcOwner = evaluatePlacement({
      ...input([theirs], { agentId: 'r' }),
      caller: { account_id: null, github_owner: 'Victim-Org' },
    });
    expect(sameOidcOwner.eligible).toBe(true);
    const sameAccount = evaluatePlacement({
      ...input([theirs], { agentId: 'r' }),
      caller: { account_id: 'acct-victim', github_owner: null },
    });
    expect(sameAccount.eligible).toBe(true);
  });
});

describe('placement of unverified-dev (insecure-local) agents', () => {
  const dev = (id: string, over: Partial<PlacementAgent> = {}) =>
    agent(id, { status: 'unverified-dev', verified: false, verification_error: 'unverified-dev', ...over });

  it('attack: with the default settings a deploy never lands on one, automatic or explicit', () => {
    const auto = evaluatePlacement(input([dev('d')]));
    expect(auto.eligible).toBe(false);
    expect(auto.error).toMatchObject({ status: 503, code: 'NO_ELIGIBLE_AGENTS' });
    expect(auto.error?.detail).toContain('operational.allow_insecure_local_agents');
    expect(auto.issues.map((i) => i.code)).toEqual(['AGENT_UNVERIFIED_DEV', 'NO_ELIGIBLE_AGENTS']);
    // Still refused after its first deploy freed it again (status undeployed, label kept).
    const freed = evaluatePlacement(input([dev('d', { status: 'undeployed' })]));
    expect(freed.error?.code).toBe('NO_ELIGIBLE_AGENTS');
    const explicit = evaluatePlacement(input([dev('d')], { agentId: 'd' }));
    expect(explicit.error).toMatchObject({ status: 403, code: 'AGENT_UNVERIFIED_DEV' });
    expect(evaluatePlacement({ ...input([dev('d')]), allowInsecureLocalAgents: false }).eligible).toBe(false);
  });

  it('eligible when operational.allow_insecure_local_agents is true, after every verified agent', () => {
    const allowed = (agents: PlacementAgent[], request: Partial<PlacementInput['request']> = {}) =>
      evaluatePlacement({ ...input(agents, request), allowInsecureLocalAgents: true });
    const only = allowed([dev('d')]);
    expect(only.selected?.agent_id).toBe('d');
    expect(only.candidates).toEqual([{ agentId: 'd', expectedStatus: 'unverified-dev' }]);
    expect(allowed([dev('d', { status: 'undeployed' })]).candidates).toEqual([
      { agentId: 'd', expectedStatus: 'undeployed' },
    ]);
    const mixed = allowed([dev('d'), agent('v')]);
    expect(mixed.candidates.map((c) => c.agentId)).toEqual(['v', 'd']);
    expect(allowed([dev('d')], { agentId: 'd' }).candidates).toEqual([
      { agentId: 'd', expectedStatus: 'unverified-dev' },
    ]);
    // No tunnel (a CP without Cloudflare): reached through AGENT_DIRECT_URL instead; a TDX agent still needs one.
    expect(allowed([dev('d', { hostname: null })]).selected?.agent_id).toBe('d');
    expect(allowed([agent('v', { hostname: null })]).error?.code).toBe('NO_ELIGIBLE_AGENTS');
    // Other rules still apply to it (a running dev agent is not taken over; an unverified TDX agent stays refused).
    expect(allowed([dev('d', { status: 'deployed', deployed_app: 'x' })]).eligible).toBe(false);
    expect(allowed([agent('u', { verified: false })]).error?.code).toBe('NO_ELIGIBLE_AGENTS');
  });
});
