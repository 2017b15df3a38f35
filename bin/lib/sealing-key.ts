/**
 * Where the install's sealing keys come from: never the database they protect.
 *
 *   EASYENCLAVE_SEALING_KEY            the current key (base64url, 32 bytes)
 *   EASYENCLAVE_SEALING_KEY_PREVIOUS   the key being rotated out (still opens what it sealed)
 *   EASYENCLAVE_SEALING_KEY_FILE       a file holding the current key (line 1) and optionally the previous
 *                                      (line 2); outside production it defaults to <data>/sealing.key and is
 *                                      created (0600) when missing
 *
 * Production refuses to start without an env key or an explicit key file. Installs from before this change kept
 * the key in the settings table (`internal.sealing_key`): on first start it is written to the key file (when the
 * key comes from a file that does not exist yet) or must equal the configured current or previous key, and is
 * then deleted from the table. A configured key that differs from it stops the start, leaving the row in place.
 */
import { constants } from 'node:fs';
import { chmod, mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Knex } from 'knex';
import { keyRing, newSealingKey, parseSealingKey, type KeyRing, type SealingKey } from '../../core/auth/keyring';
import type { RuntimeConfig } from '../../core/config';
import type { Logger } from '../../core/logger';
import { INTERNAL_PREFIX } from '../../core/stores/internal-state';

export const LEGACY_KEY_ROW = `${INTERNAL_PREFIX}sealing_key`;

export class SealingKeyConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SealingKeyConfigError';
  }
}

/** Creates `file` with `text` (0600) unless it exists; true when this call created it. */
async function createExclusive(file: string, text: string): Promise<boolean> {
  await mkdir(dirname(file), { recursive: true });
  try {
    const fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await fh.writeFile(`${text}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(file, 0o600); // the umask cannot widen it, but be explicit
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

async function readKeyFile(file: string): Promise<{ current: SealingKey; previous: SealingKey | null }> {
  const lines = (await readFile(file, 'utf8'))
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length === 0) throw new SealingKeyConfigError(`sealing key file ${file} is empty`);
  return {
    current: parseSealingKey(lines[0]!, `the key in ${file}`),
    previous: lines[1] ? parseSealingKey(lines[1], `the previous key in ${file}`) : null,
  };
}

const exists = (file: string) =>
  stat(file).then(
    (s) => s,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw err;
    },
  );

export async function loadSealingKeys(opts: {
  config: RuntimeConfig;
  env: NodeJS.ProcessEnv;
  db: Knex;
  logger: Logger;
}): Promise<KeyRing> {
  const { config, env, db, logger } = opts;
  const log = logger.child('sealing-key');
  const envKey = (env.EASYENCLAVE_SEALING_KEY ?? '').trim();
  const envPrevious = (env.EASYENCLAVE_SEALING_KEY_PREVIOUS ?? '').trim();
  const explicitFile = (env.EASYENCLAVE_SEALING_KEY_FILE ?? '').trim();
  const file = explicitFile || (config.production ? '' : join(config.dataDir, 'sealing.key'));
  const legacy = await db('settings').where({ key: LEGACY_KEY_ROW }).first<{ value: string } | undefined>();

  let current: SealingKey;
  let previous: SealingKey | null = envPrevious
    ? parseSealingKey(envPrevious, 'EASYENCLAVE_SEALING_KEY_PREVIOUS')
    : null;
  let source: string;
  let migratedToFile = false;
  if (envKey) {
    current = parseSealingKey(envKey, 'EASYENCLAVE_SEALING_KEY');
    source = 'EASYENCLAVE_SEALING_KEY';
  } else if (file) {
    const found = await exists(file);
    if (!found) {
      const text = legacy ? parseSealingKey(legacy.value, `${LEGACY_KEY_ROW} in the database`).text : newSealingKey();
      const created = await createExclusive(file, text);
      if (created && legacy) {
        migratedToFile = true;
        log.warn(`moved the sealing key from the database (${LEGACY_KEY_ROW}) to ${file} (mode 0600)`);
      } else if (created) {
        log.info(`created a new sealing key in ${file} (mode 0600); back it up: without it sealed secrets are lost`);
      }
    } else if ((found.mode & 0o077) !== 0) {
      log.warn(
        `sealing key file ${file} is readable by group or others (mode ${(found.mode & 0o777).toString(8)}); chmod 600 it`,
      );
    }
    const fromFile = await readKeyFile(file);
    current = fromFile.current;
    previous ??= fromFile.previous;
    source = file;
  } else {
    throw new SealingKeyConfigError(
      'Production needs a sealing key from outside the database: set EASYENCLAVE_SEALING_KEY ' +
        '(openssl rand -base64 32) or EASYENCLAVE_SEALING_KEY_FILE' +
        (legacy
          ? `; this install still keeps its key in the settings table (${LEGACY_KEY_ROW}): move that value there`
          : ''),
    );
  }
  const ring = keyRing(current, previous);
  log.info(
    `sealing key ${ring.current.id} from ${source}` +
      (ring.previous ? `; previous key ${ring.previous.id} still opens old data` : ''),
  );

  if (legacy) {
    const old = parseSealingKey(legacy.value, `${LEGACY_KEY_ROW} in the database`);
    const match = ring.byId(old.id);
    if (!match) {
      throw new SealingKeyConfigError(
        `The database holds a sealing key (${LEGACY_KEY_ROW}, id ${old.id}) that differs from the configured key ` +
          `${ring.current.id} (${source}); data sealed under it would no longer open. Configure that key as ` +
          'EASYENCLAVE_SEALING_KEY, or as EASYENCLAVE_SEALING_KEY_PREVIOUS to rotate away from it. The database copy was left in place.',
      );
    }
    // Only the row with this exact value: a concurrent replica may already have removed it.
    await db('settings').where({ key: LEGACY_KEY_ROW, value: legacy.value }).delete();
    if (!migratedToFile) {
      log.warn(
        `the database copy of the sealing key (${LEGACY_KEY_ROW}) matches the configured ` +
          `${match === ring.current ? 'current' : 'previous'} key; removed it from the database`,
      );
    } else {
      log.warn(`removed the sealing key from the database (${LEGACY_KEY_ROW}); ${file} now holds it`);
    }
  }
  return ring;
}
