/**
 * Every effective setting, held for at most `maxAgeMs` (default 1 s) and dropped at once when a setting changes
 * through this process (SettingsService.invalidate bumps its version): hot paths read their settings without a
 * promise per key (`fresh()` is synchronous), and still see an admin's change on their next request. Other replicas'
 * changes arrive through the service's own cache (its TTL, or its change listener). One per app, never module state.
 */
import { SETTING_REGISTRY, type SettingKey } from './registry';
import { UnknownSettingError, type SettingsService } from './service';
import type { SettingsReader } from './types';

export type SettingValues = ReadonlyMap<SettingKey, string>;

export class SettingsSnapshot implements SettingsReader {
  private current: { values: SettingValues; at: number; version: number } | null = null;
  private loading: { promise: Promise<SettingValues>; version: number } | null = null;

  /** `service` is a function so that declaring routes (openApiDocument's stub deps) reads nothing. */
  constructor(
    private readonly service: () => Pick<SettingsService, 'values' | 'version'>,
    private readonly maxAgeMs = 1000,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** The values while fresh (no I/O, no await), else null: then `load()`. */
  fresh(): SettingValues | null {
    const c = this.current;
    if (!c || this.clock() - c.at > this.maxAgeMs || c.version !== this.service().version) return null;
    return c.values;
  }

  /** Fresh values: the held ones, or one reload shared by every caller while it runs. */
  load(): Promise<SettingValues> {
    const hit = this.fresh();
    if (hit) return Promise.resolve(hit);
    const service = this.service();
    const version = service.version;
    // A reload begun before the latest change would hand out the old values: such a one is not joined.
    if (this.loading?.version !== version) {
      const at = this.clock();
      const promise: Promise<SettingValues> = service
        .values()
        .then((values) => {
          if (!this.current || this.current.at <= at) this.current = { values, at, version };
          return values;
        })
        .finally(() => {
          if (this.loading?.promise === promise) this.loading = null;
        });
      this.loading = { promise, version };
    }
    return this.loading.promise;
  }

  async get(key: SettingKey): Promise<string> {
    if (!Object.hasOwn(SETTING_REGISTRY, key)) throw new UnknownSettingError(key);
    return (this.fresh() ?? (await this.load())).get(key)!;
  }
}
