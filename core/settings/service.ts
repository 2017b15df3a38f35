/**
 * Effective settings: a non-empty DB value wins, else a non-empty environment variable,
 * else the registry default (spec/settings.md §1). DB rows are cached for 5 s per process
 * (writes from this process invalidate at once; other replicas see them within the TTL).
 * Env is read live on every lookup.
 */
import type { Knex } from 'knex';
import { listSettingRows } from '../stores/settings';
import {
  SETTINGS,
  SETTING_REGISTRY,
  maskSecret,
  type SettingDef,
  type SettingGroup,
  type SettingKey,
} from './registry';
import type { SettingSource, SettingView, SettingsReader } from './types';

export class UnknownSettingError extends Error {
  constructor(readonly key: string) {
    super(`Unknown setting: ${key}`);
    this.name = 'UnknownSettingError';
  }
}

export interface SettingsServiceOptions {
  env?: NodeJS.ProcessEnv;
  ttlMs?: number;
  /** Monotonic clock in ms; injectable for tests. */
  clock?: () => number;
  onLoadError?: (err: unknown) => void;
}

export class SettingsService implements SettingsReader {
  private readonly env: NodeJS.ProcessEnv;
  private readonly ttlMs: number;
  private readonly clock: () => number;
  private cache: { values: Map<string, string>; loadedAt: number } | null = null;
  private loading: Promise<Map<string, string>> | null = null;
  private changes = 0;

  constructor(
    private readonly db: Knex,
    private readonly opts: SettingsServiceOptions = {},
  ) {
    this.env = opts.env ?? process.env;
    this.ttlMs = opts.ttlMs ?? 5000;
    this.clock = opts.clock ?? (() => performance.now());
  }

  /** Forget cached DB values; the next lookup reloads them. */
  invalidate(): void {
    this.cache = null;
    this.changes += 1;
  }

  /**
   * How many times this process was told a setting changed (`invalidate`): a snapshot taken at another count is
   * stale (core/settings/snapshot.ts).
   */
  get version(): number {
    return this.changes;
  }

  /** Every registered setting's effective value (secrets in clear: for in-process snapshots, never for output). */
  async values(): Promise<Map<SettingKey, string>> {
    const db = await this.dbValues();
    return new Map(SETTINGS.map((def) => [def.key as SettingKey, this.resolveDef(def, db).value]));
  }

  async get(key: SettingKey): Promise<string> {
    return (await this.resolve(key)).value;
  }

  /** A key only known at run time (an admin's input) is checked with `findSetting` first. */
  async resolve(key: SettingKey): Promise<{ value: string; source: SettingSource }> {
    // Still checked: a caller may cast, and a missing def would otherwise read as the default.
    if (!Object.hasOwn(SETTING_REGISTRY, key)) throw new UnknownSettingError(key);
    return this.resolveDef({ key, ...SETTING_REGISTRY[key] }, await this.dbValues());
  }

  /** Registry-ordered listing with secrets masked (admin API, start-up log). */
  async list(group?: string): Promise<SettingView[]> {
    const db = await this.dbValues();
    return SETTINGS.filter((s) => group === undefined || s.group === group).map((def) => {
      const { value, source } = this.resolveDef(def, db);
      return {
        key: def.key,
        value: def.secret ? maskSecret(value) : value,
        source,
        is_secret: def.secret,
        description: def.description,
        group: def.group as SettingGroup,
        env_var: def.envVar,
        default: def.default,
      };
    });
  }

  private resolveDef(def: SettingDef, db: Map<string, string>): { value: string; source: SettingSource } {
    const fromDb = db.get(def.key);
    if (fromDb !== undefined && fromDb !== '') return { value: fromDb, source: 'db' };
    const fromEnv = this.env[def.envVar];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: 'env' };
    return { value: def.default, source: 'default' };
  }

  private async dbValues(): Promise<Map<string, string>> {
    const now = this.clock();
    if (this.cache && now - this.cache.loadedAt <= this.ttlMs) return this.cache.values;
    // Single flight: concurrent lookups share one reload.
    this.loading ??= listSettingRows(this.db)
      .then((rows) => new Map(rows.map((r) => [r.key, r.value])))
      .catch((err: unknown) => {
        this.opts.onLoadError?.(err);
        return new Map<string, string>();
      })
      .then((values) => {
        this.cache = { values, loadedAt: this.clock() };
        this.loading = null;
        return values;
      });
    return this.loading;
  }
}

/** Every setting with its source and masked value, one line each (start-up log). */
export async function describeSettings(settings: SettingsService): Promise<string[]> {
  return (await settings.list()).map((s) => `setting ${s.key}=${JSON.stringify(s.value)} (source: ${s.source})`);
}
