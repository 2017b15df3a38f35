/**
 * Start-up resolution of the admin password (spec/settings.md §5, without v1's habit of
 * publishing a generated password over HTTP): ADMIN_PASSWORD_HASH (argon2id) → hash of
 * ADMIN_PASSWORD → a generated password, stored hashed once per install and printed
 * once on the console of the process that generated it.
 */
import type { Knex } from 'knex';
import { githubOAuthConfigured, passwordLoginAllowed } from '../../core/auth/login-policy';
import { hashPassword, isArgon2Hash, randomToken } from '../../core/auth/secrets';
import type { RuntimeConfig } from '../../core/config';
import type { Logger } from '../../core/logger';
import type { SettingsReader } from '../../core/settings/types';
import { getOrCreateInternalValue } from '../../core/stores/internal-state';

export async function resolveAdminPasswordHash(opts: {
  db: Knex;
  config: RuntimeConfig;
  settings: SettingsReader;
  logger: Logger;
  announce: (message: string) => void;
}): Promise<string | null> {
  const { config, logger } = opts;
  if (config.admin.passwordHash) {
    if (!isArgon2Hash(config.admin.passwordHash)) {
      throw new Error(
        'ADMIN_PASSWORD_HASH must be an argon2id PHC string ($argon2id$…); or set ADMIN_PASSWORD instead',
      );
    }
    return config.admin.passwordHash;
  }
  if (config.admin.password) return hashPassword(config.admin.password);
  if (!(await passwordLoginAllowed(opts.settings, config.production))) return null;
  if ((await githubOAuthConfigured(opts.settings)) && config.admin.githubLogins.length > 0) return null;

  const plain = randomToken(16);
  const { value, created } = await getOrCreateInternalValue(opts.db, 'generated_admin_password_hash', () =>
    hashPassword(plain),
  );
  if (created) {
    opts.announce(`Generated admin password (shown once; set ADMIN_PASSWORD to choose your own): ${plain}`);
  } else {
    logger.info('using the admin password generated on first start (set ADMIN_PASSWORD to replace it)');
  }
  return value;
}
