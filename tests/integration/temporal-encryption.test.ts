/**
 * What the Temporal server holds is ciphertext: the raw histories of a registration and of a secret setting
 * change and the agent's entity workflow (fetched from the real server) show no control secret, tunnel token, ITA
 * token or setting value — not even a plain input field (only workflow ids and types stay readable) — and every
 * payload but the SDK's local-activity marker data is `binary/encrypted`. The codec endpoint decodes them for an
 * admin session only, with CORS for the Web UI origin.
 */
import type { Payload } from '@temporalio/common';
import { decode } from '@temporalio/common/lib/encoding';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payloadToJson } from '../../core/temporal/codec';
import { register, registrationWorkflowId, startAgentWorld, token, type AgentWorld } from '../helpers/agents';
import { decodeHistory, historyText } from '../helpers/histories';

function payloadsIn(node: unknown, out: Payload[] = []): Payload[] {
  if (typeof node !== 'object' || node === null || node instanceof Uint8Array) return out;
  const m = (node as Payload).metadata;
  if (m && typeof m === 'object' && (m as Record<string, unknown>).encoding instanceof Uint8Array) {
    out.push(node as Payload);
    return out;
  }
  for (const v of Object.values(node)) payloadsIn(v, out);
  return out;
}

/** Paths of the payloads not encrypted by the codec. */
function plainPayloadPaths(node: unknown, path = '', out: string[] = []): string[] {
  if (typeof node !== 'object' || node === null || node instanceof Uint8Array) return out;
  const m = (node as Payload).metadata;
  if (m && typeof m === 'object' && (m as Record<string, unknown>).encoding instanceof Uint8Array) {
    if (decode(m.encoding!) !== 'binary/encrypted') out.push(path);
    return out;
  }
  for (const [k, v] of Object.entries(node)) plainPayloadPaths(v, `${path}.${k}`, out);
  return out;
}

describe('Temporal payloads are encrypted', () => {
  let w: AgentWorld;
  let reg: { agent_api_secret: string; tunnel_token: string; agent_id: string };
  let itaToken: string;
  let hbToken: string;
  const vm = 'vm-encrypted-history';
  // Sent by register() (tests/helpers/agents.ts registerBody); not part of any workflow id.
  const DATACENTER = 'gcp:us-central1-a';
  const settingValue = 'sk_live_history_must_not_show_this_4242';
  beforeAll(async () => {
    w = await startAgentWorld();
    itaToken = await token(w);
    const res = await register(w, vm, itaToken);
    if (res.status !== 200) throw new Error(`register: ${res.status} ${res.text}`);
    reg = res.body;
    // A heartbeat starts the agent's entity workflow (its input carries the attestation).
    hbToken = await token(w);
    const hb = await w.api.post(`/api/v1/agents/${reg.agent_id}/heartbeat`, {
      token: reg.agent_api_secret,
      json: { vm_name: vm, attestation: { tdx: { intel_ta_token: hbToken } } },
    });
    if (hb.status !== 200) throw new Error(`heartbeat: ${hb.status} ${hb.text}`);
    const put = await w.api.put('/api/v1/admin/settings/stripe.secret_key', {
      token: w.admin,
      json: { value: settingValue },
    });
    if (put.status !== 200) throw new Error(`setting: ${put.status} ${put.text}`);
  }, 60_000);
  afterAll(() => w?.close());

  const histories = async () => {
    const ids = [registrationWorkflowId(vm, itaToken), `agent:${reg.agent_id}`];
    for await (const e of w.stack.client.workflow.list({
      query: `WorkflowType = 'changeSetting' AND TaskQueue = '${w.stack.taskQueue}'`,
    })) {
      if (e.workflowId.startsWith('admin-setting:stripe.secret_key:')) ids.push(e.workflowId);
    }
    expect(ids).toHaveLength(3);
    return Promise.all(ids.map((id) => w.stack.client.workflow.getHandle(id).fetchHistory()));
  };

  it('raw histories hold no plaintext secret and only encrypted payloads', async () => {
    for (const history of await histories()) {
      const raw = historyText(history);
      for (const secret of [reg.agent_api_secret, reg.tunnel_token, itaToken, hbToken, settingValue, DATACENTER]) {
        expect(raw).not.toContain(secret);
      }
      const payloads = payloadsIn(history);
      expect(payloads.length).toBeGreaterThan(0);
      // The only payloads in clear are the SDK's own: local-activity marker data (activity type, attempt, times; the
      // marker's result sits beside it, encrypted) and `patched()` markers (the patch id, also a search attribute).
      const plain = plainPayloadPaths(history);
      const sdkOwn =
        /^\.events\.\d+\.(markerRecordedEventAttributes\.details\.(data|patch-data)\.|upsertWorkflowSearchAttributesEventAttributes\.searchAttributes\.indexedFields\.TemporalChangeVersion$)/;
      expect(
        plain.every((p) => sdkOwn.test(p)),
        plain.join(),
      ).toBe(true);
      expect(payloads.length - plain.length).toBeGreaterThan(0);
    }
  });

  it('decoded with the install key the payloads are readable; the secrets stay field-sealed', async () => {
    const codecs = w.stack.client.options.loadedDataConverter.payloadCodecs;
    const [registration, , setting] = await Promise.all((await histories()).map((h) => decodeHistory(h, codecs)));
    // The scan is not blind: a plain input field (absent from the raw history above) appears once decoded.
    expect(historyText(registration)).toContain(DATACENTER);
    expect(historyText(setting)).toContain('stripe.secret_key');
    for (const h of [registration, setting]) {
      const text = historyText(h);
      for (const secret of [reg.agent_api_secret, reg.tunnel_token, settingValue]) expect(text).not.toContain(secret);
    }
  });

  it('POST /codec/decode answers 401 without a session and decodes for an admin', async () => {
    const [registration] = await histories();
    const payloads = payloadsIn(registration).map(payloadToJson);
    const anonymous = await w.api.post('/codec/decode', { json: { payloads } });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toEqual({ detail: 'Missing Authorization header' });
    const bogus = await w.api.post('/codec/decode', { json: { payloads }, token: 'not-a-session' });
    expect(bogus.status).toBe(401);
    expect(bogus.body.detail).toBe('Invalid session token');

    const res = await w.api.post('/codec/decode', { json: { payloads }, token: w.admin });
    expect(res.status, res.text).toBe(200);
    expect(res.body.payloads).toHaveLength(payloads.length);
    const encodings = res.body.payloads.map((p: { metadata: Record<string, string> }) =>
      Buffer.from(p.metadata.encoding!, 'base64').toString(),
    );
    expect(encodings).not.toContain('binary/encrypted');
    const text = res.body.payloads.map((p: { data: string }) => Buffer.from(p.data ?? '', 'base64').toString()).join();
    expect(text).toContain(DATACENTER);
  });

  it('POST /codec/encode then /codec/decode round-trips; a tampered payload is a 400 with detail', async () => {
    const plain = {
      metadata: { encoding: Buffer.from('json/plain').toString('base64') },
      data: Buffer.from('"hi"').toString('base64'),
    };
    const enc = await w.api.post('/codec/encode', { json: { payloads: [plain] }, token: w.admin });
    expect(enc.status, enc.text).toBe(200);
    expect(Buffer.from(enc.body.payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
    const dec = await w.api.post('/codec/decode', { json: enc.body, token: w.admin });
    expect(dec.body.payloads).toEqual([{ metadata: plain.metadata, data: plain.data }]);
    // Unencrypted payloads (recorded histories) pass through as they are.
    const same = await w.api.post('/codec/decode', { json: { payloads: [plain] }, token: w.admin });
    expect(same.body.payloads).toEqual([{ metadata: plain.metadata, data: plain.data }]);
    const data = Buffer.from(enc.body.payloads[0].data, 'base64');
    data[data.length - 1]! ^= 0xff;
    const bad = await w.api.post('/codec/decode', {
      json: { payloads: [{ ...enc.body.payloads[0], data: data.toString('base64') }] },
      token: w.admin,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toMatch(/^Cannot decode payloads: /);
    expect((await w.api.post('/codec/encode', { json: { payloads: [plain] } })).status).toBe(401);
  });

  it('answers the Web UI preflight from its origin only', async () => {
    const preflight = (origin: string) =>
      fetch(`${w.stack.url}/codec/decode`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type,x-namespace',
        },
      });
    const ui = await preflight('http://localhost:8233');
    expect(ui.status).toBe(204);
    expect(ui.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
    expect(ui.headers.get('access-control-allow-headers')).toContain('x-namespace');
    const evil = await preflight('https://evil.example');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
  });
});
