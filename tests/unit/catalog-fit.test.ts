import { describe, expect, it } from 'vitest';
import { measurementMismatch } from '../../api/routes/catalog-deploy';

const MRTD = 'ab'.repeat(48);
const agent = { node_size: 'tiny', mrtd: MRTD };
const v = (over: Record<string, unknown>) => ({ version: '1', node_size: '', mrtd: null, attestation: null, ...over });

describe('measurementMismatch (api.md §4.4)', () => {
  it('accepts a generic unmeasured version and a measurement of the agent size', () => {
    expect(measurementMismatch('a', v({}), agent)).toBeNull();
    expect(measurementMismatch('a', v({ attestation: { node_size: 'tiny' } }), agent)).toBeNull();
    expect(measurementMismatch('a', v({ attestation: { node_size: '' } }), agent)).toBeNull();
  });

  it('refuses a sized version without a measurement, and a measurement of another size', () => {
    expect(measurementMismatch('a', v({ node_size: 'llm' }), agent)).toMatch(/missing measurement payload/);
    expect(measurementMismatch('a', v({ attestation: { node_size: 'llm' } }), agent)).toBe(
      "Measurement node_size mismatch for 'a@1': attested 'llm', target agent 'tiny'",
    );
  });

  it('agent references need an MRTD and a node size, and the MRTD must be the agent one', () => {
    const ref = { measurement_type: 'agent_reference', node_size: 'tiny' };
    expect(measurementMismatch('a', v({ attestation: ref }), agent)).toMatch(/without an MRTD/);
    expect(
      measurementMismatch('a', v({ attestation: { measurement_type: 'agent_reference' }, mrtd: MRTD }), agent),
    ).toMatch(/without a node_size/);
    expect(measurementMismatch('a', v({ attestation: ref, mrtd: MRTD.toUpperCase() }), agent)).toBeNull();
    expect(measurementMismatch('a', v({ attestation: ref, mrtd: 'cd'.repeat(48) }), agent)).toMatch(
      /MRTD mismatch for 'a@1': version MRTD cdcdcdcdcdcdcdcd\.\.\., agent MRTD abababababababab\.\.\./,
    );
  });
});
