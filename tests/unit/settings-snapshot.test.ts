/** The one-second settings snapshot: held while fresh, renewed after maxAgeMs or at once after a change, one reload at a time. */
import { describe, expect, it } from 'vitest';
import type { SettingKey } from '../../core/settings/registry';
import { SettingsSnapshot } from '../../core/settings/snapshot';

const TTL = 'operational.nonce_ttl_seconds' as SettingKey;

function fakeService(initial: string) {
  const state = { value: initial, version: 0, loads: 0 };
  const service = {
    get version() {
      return state.version;
    },
    async values() {
      state.loads += 1;
      const value = state.value;
      await Promise.resolve();
      return new Map<SettingKey, string>([[TTL, value]]);
    },
  };
  return { state, service };
}

describe('SettingsSnapshot', () => {
  it('is empty until loaded, then serves synchronously until it is older than maxAgeMs', async () => {
    const { state, service } = fakeService('300');
    let now = 0;
    const snap = new SettingsSnapshot(
      () => service,
      1000,
      () => now,
    );
    expect(snap.fresh()).toBeNull();
    expect(await snap.get(TTL)).toBe('300');
    expect(snap.fresh()?.get(TTL)).toBe('300');
    state.value = '120';
    now = 1000;
    expect(snap.fresh()?.get(TTL)).toBe('300');
    expect(state.loads).toBe(1);
    now = 1001;
    expect(snap.fresh()).toBeNull();
    expect(await snap.get(TTL)).toBe('120');
    expect(state.loads).toBe(2);
  });

  it('a change through the service (invalidate bumps its version) is seen on the next read', async () => {
    const { state, service } = fakeService('300');
    const snap = new SettingsSnapshot(
      () => service,
      60_000,
      () => 0,
    );
    expect(await snap.get(TTL)).toBe('300');
    state.value = '60';
    state.version += 1;
    expect(snap.fresh()).toBeNull();
    expect(await snap.get(TTL)).toBe('60');
  });

  it('concurrent readers share one reload, but not one begun before a change', async () => {
    const { state, service } = fakeService('300');
    const snap = new SettingsSnapshot(
      () => service,
      1000,
      () => 0,
    );
    const [a, b] = await Promise.all([snap.load(), snap.load()]);
    expect(a).toBe(b);
    expect(state.loads).toBe(1);

    state.version += 1;
    const stale = snap.load();
    state.value = '90';
    state.version += 1;
    const current = snap.load();
    expect(state.loads).toBe(3);
    expect((await stale).get(TTL)).toBe('300');
    expect((await current).get(TTL)).toBe('90');
    expect(snap.fresh()?.get(TTL)).toBe('90');
  });

  it('refuses a key that is not registered', async () => {
    const { service } = fakeService('300');
    await expect(new SettingsSnapshot(() => service).get('no.such_key' as SettingKey)).rejects.toThrow(
      'Unknown setting: no.such_key',
    );
  });
});
