/**
 * Database writes behind the admin-change and session-cleanup workflows. Each is
 * idempotent: an upsert or delete by primary key gives the same end state when retried.
 */
import { DAY_MS } from '../core/time';
import type { Knex } from 'knex';
import { unseal } from '../core/auth/seal';
import { deleteExpiredSessions } from '../core/stores/admin-sessions';
import { purgeExpiredOAuthStates } from '../core/stores/oauth-states';
import { purgeRateLimits } from '../core/stores/rate-limits';
import { deleteSetting, upsertSetting } from '../core/stores/settings';
import { deleteTrustedMrtd, upsertTrustedMrtd } from '../core/stores/trusted-mrtds';
import { findSetting } from '../core/settings/registry';
import type { SettingValue } from '../workflows/contracts/admin';
import { ApplicationFailure } from '@temporalio/common';
import type { KeyRing } from '../core/auth/keyring';

export interface AdminDbDeps {
  db: Knex;
  sealingKey: KeyRing;
  /** Called after a settings/trust change so this process's caches refresh at once. */
  onChange?: () => void;
}

export function createAdminDbActivities({ db, sealingKey, onChange }: AdminDbDeps) {
  return {
    async writeSetting({ key, value }: { key: string; value: SettingValue }): Promise<void> {
      const def = findSetting(key);
      if (!def) throw ApplicationFailure.nonRetryable(`Unknown setting: ${key}`, 'UnknownSetting');
      const plain = 'sealed' in value ? unseal(sealingKey, value) : value.plain;
      await upsertSetting(db, { key, value: plain, isSecret: def.secret });
      onChange?.();
    },

    async removeSetting({ key }: { key: string }): Promise<{ removed: boolean }> {
      const removed = await deleteSetting(db, key);
      onChange?.();
      return { removed };
    },

    async writeTrustedMrtd(input: { mrtd: string; type: 'agent' | 'proxy'; note: string }) {
      const row = await upsertTrustedMrtd(db, input);
      onChange?.();
      return { mrtd: row.mrtd, type: row.type as 'agent' | 'proxy', note: row.note };
    },

    async removeTrustedMrtd({ mrtd }: { mrtd: string }): Promise<{ removed: boolean }> {
      const removed = await deleteTrustedMrtd(db, mrtd);
      onChange?.();
      return { removed };
    },

    /** Expired admin sessions, used OAuth states past their expiry, rate-limit windows older than a day. */
    async purgeExpiredSessions({
      before,
    }: {
      before: string;
    }): Promise<{ deleted: number; oauthStates: number; rateLimits: number }> {
      return {
        deleted: await deleteExpiredSessions(db, before),
        oauthStates: await purgeExpiredOAuthStates(db, before),
        // A day covers every window the ratelimit.* settings can sensibly hold; a purged row just starts afresh.
        rateLimits: await purgeRateLimits(db, Date.parse(before) - DAY_MS),
      };
    },
  };
}

export type AdminDbActivities = ReturnType<typeof createAdminDbActivities>;
