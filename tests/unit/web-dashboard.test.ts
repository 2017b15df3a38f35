/** The dashboard's pure parts: Temporal links (ids as the workflow contracts make them), hex diffs, setting checks. */
import { describe, expect, it } from 'vitest';
import { findSetting, SETTINGS } from '../../core/settings/registry';
import { settingValueProblem } from '../../core/settings/validate';
import { agentWorkflowId } from '../../workflows/contracts/agents';
import { launchOrderWorkflowId } from '../../workflows/contracts/capacity';
import { deploymentWorkflowId } from '../../workflows/contracts/deployments';
import { measurementWorkflowId } from '../../workflows/contracts/measurement';
import { diffRuns } from '../../web/format';
import { workflowIds, workflowUrl } from '../../web/links';

describe('dashboard links into the Temporal Web UI', () => {
  it('use the workflow ids of the contracts', () => {
    expect(workflowIds.agent('a-1')).toBe(agentWorkflowId('a-1'));
    expect(workflowIds.deployment('d-1')).toBe(deploymentWorkflowId('d-1'));
    expect(workflowIds.launchOrder('o-1')).toBe(launchOrderWorkflowId('o-1'));
    expect(workflowIds.measurement('hello', '1.0', '')).toBe(measurementWorkflowId('hello', '1.0', ''));
    expect(workflowIds.measurement('hello', '1.0', 'llm')).toBe(measurementWorkflowId('hello', '1.0', 'llm'));
  });

  it('encode the id and namespace, and are absent without a UI', () => {
    const ui = { temporal_ui_url: 'http://ui:8233', temporal_namespace: 'prod ns' };
    expect(workflowUrl(ui, 'measure:a/b:1')).toBe('http://ui:8233/namespaces/prod%20ns/workflows/measure%3Aa%2Fb%3A1');
    expect(workflowUrl({ ...ui, temporal_ui_url: '' }, 'agent:x')).toBeNull();
    expect(workflowUrl(null, 'agent:x')).toBeNull();
  });
});

describe('measurement diff', () => {
  it('marks the characters that differ from the baseline', () => {
    expect(diffRuns('aabbcc', 'aaxbcz')).toEqual([
      { text: 'aa', differs: false },
      { text: 'b', differs: true },
      { text: 'bc', differs: false },
      { text: 'c', differs: true },
    ]);
    expect(diffRuns('abc', null)).toEqual([{ text: 'abc', differs: false }]);
    expect(diffRuns('abcd', 'ab')).toEqual([
      { text: 'ab', differs: false },
      { text: 'cd', differs: true },
    ]);
  });
});

describe('setting value checks', () => {
  const def = (key: string) => findSetting(key)!;

  it('booleans take the words parseBool reads', () => {
    for (const ok of ['true', 'False', 'yes', 'off', '1', ' on ', '']) {
      expect(settingValueProblem(def('billing.enabled'), ok)).toBeNull();
    }
    expect(settingValueProblem(def('billing.enabled'), 'maybe')).toBe(
      'billing.enabled must be a boolean (true or false)',
    );
  });

  it('numbers take decimal numbers only', () => {
    for (const ok of ['48', '0.0001', '-1', ' 12 ']) {
      expect(settingValueProblem(def('operational.agent_stale_hours'), ok)).toBeNull();
    }
    for (const bad of ['two', '1e3', '4,5', '0x10']) {
      expect(settingValueProblem(def('operational.agent_stale_hours'), bad)).toBe(
        'operational.agent_stale_hours must be a number',
      );
    }
  });

  it('rate limits take <count>/<window>', () => {
    expect(settingValueProblem(def('ratelimit.agent_register_per_ip'), '10/5m')).toBeNull();
    expect(settingValueProblem(def('ratelimit.agent_register_per_ip'), 'lots')).toMatch(/must be a rate limit/);
  });

  it('free text stays free, and every default passes its own check', () => {
    expect(settingValueProblem(def('cloudflare.domain'), 'anything at all')).toBeNull();
    for (const s of SETTINGS) expect(settingValueProblem(s, s.default), s.key).toBeNull();
  });
});
