/**
 * Registration input normalization (spec/attestation.md §5.1). Pure; the API runs it before any workflow starts so
 * bad input never reaches Temporal or the database.
 */

export const NODE_SIZE_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;
export const DATACENTER_RE = /^[a-z0-9][a-z0-9_-]{0,31}:[a-z0-9][a-z0-9._-]{0,95}$/;
/**
 * What the request may carry so that normalization yields a valid value (any case, spaces around, cloud aliases,
 * a missing zone → `default`): declared in the route schema, so the OpenAPI document says exactly what is accepted.
 */
export const NODE_SIZE_INPUT_RE = /^\s*[A-Za-z0-9][A-Za-z0-9_-]{0,31}\s*$/;
export const DATACENTER_INPUT_RE = /^\s*[A-Za-z0-9][A-Za-z0-9_-]{0,31}\s*(:\s*([A-Za-z0-9][A-Za-z0-9._-]{0,95})?\s*)?$/;

const CLOUD_ALIASES: Record<string, string> = {
  google: 'gcp',
  gcp: 'gcp',
  azure: 'azure',
  az: 'azure',
  'bare-metal': 'baremetal',
  baremetal: 'baremetal',
  onprem: 'baremetal',
  'on-prem': 'baremetal',
  'self-hosted': 'baremetal',
};

const alias = (cloud: string) => CLOUD_ALIASES[cloud.trim()] ?? cloud.trim();

/** `<cloud>:<zone>` with cloud aliases applied; '' when blank. Not validated (see DATACENTER_RE). */
export function normalizeDatacenter(raw: string | null | undefined): string {
  const v = (raw ?? '').trim().toLowerCase();
  if (v === '') return '';
  const i = v.indexOf(':');
  if (i === -1) return `${alias(v)}:default`;
  const location = v.slice(i + 1).trim();
  return `${alias(v.slice(0, i))}:${location === '' ? 'default' : location}`;
}

export interface RegistrationFields {
  vm_name: string;
  node_size: string;
  datacenter: string;
}

export type NormalizeResult = { ok: true; value: RegistrationFields } | { ok: false; detail: string };

/** §5.1 in v1's order; the first failure is the 400 detail. */
export function normalizeRegistration(input: {
  attestation: unknown;
  vm_name: string;
  node_size?: string;
  datacenter?: string;
}): NormalizeResult {
  const att = input.attestation;
  if (att === null || typeof att !== 'object' || Object.keys(att).length === 0) {
    return { ok: false, detail: 'Registration requires attestation' };
  }
  const vm_name = input.vm_name.trim();
  if (vm_name === '') return { ok: false, detail: 'Registration requires vm_name' };
  const rawSize = input.node_size ?? '';
  const node_size = rawSize.trim().toLowerCase();
  if (node_size === '') return { ok: false, detail: 'Registration requires node_size' };
  if (!NODE_SIZE_RE.test(node_size)) {
    return { ok: false, detail: `Invalid node_size '${rawSize}'. Expected lowercase token like tiny, standard, llm` };
  }
  const rawDc = input.datacenter ?? '';
  const datacenter = normalizeDatacenter(rawDc);
  if (datacenter === '') return { ok: false, detail: 'Registration requires datacenter' };
  if (!DATACENTER_RE.test(datacenter)) {
    return {
      ok: false,
      detail: `Invalid datacenter '${rawDc}'. Expected '<cloud>:<zone>' (for example gcp:us-central1-a)`,
    };
  }
  return { ok: true, value: { vm_name, node_size, datacenter } };
}

/** `attestation.tdx.intel_ta_token` (trimmed) or ''. */
export function itaTokenOf(attestation: unknown): string {
  const tdx = (attestation as { tdx?: { intel_ta_token?: unknown } } | null)?.tdx;
  const t = tdx?.intel_ta_token;
  return typeof t === 'string' ? t.trim() : '';
}
