/**
 * Start-up key handling (bin/lib/sealing-key.ts through openRuntime) on every engine: the key never stays in
 * the database, an existing install's key moves out of `internal.sealing_key`, a mismatching key stops the
 * start, production needs a key from outside the database.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keyRing, newSealingKey, parseSealingKey, randomKeyRing } from '../../core/auth/keyring';
import { UnsealError, seal, unseal } from '../../core/auth/seal';
import { nowIso } from '../../core/db/tables';
import { LogBuffer, Logger } from '../../core/logger';
import { openRuntime, type Runtime } from '../../bin/lib/runtime';
import { LEGACY_KEY_ROW, SealingKeyConfigError } from '../../bin/lib/sealing-key';
import { createTestDb, testEngines, type TestDb } from '../helpers/databases';

for (const engine of testEngines()) {
  describe(`sealing key at start (${engine})`, () => {
    let t: TestDb | undefined;
    let dir: string;
    let runtime: Runtime | undefined;
    let buffer: LogBuffer;
    afterEach(async () => {
      await runtime?.close();
      runtime = undefined;
      await t?.destroy();
      t = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    const setup = async (legacyKey?: string) => {
      dir = mkdtempSync(join(tmpdir(), 'ee-key-'));
      t = await createTestDb(engine);
      if (legacyKey) {
        await t.db('settings').insert({ key: LEGACY_KEY_ROW, value: legacyKey, is_secret: true, updated_at: nowIso() });
      }
    };
    const start = async (env: Record<string, string> = {}) => {
      buffer = new LogBuffer(2000, () => {});
      runtime = await openRuntime({
        env: {
          EE_DATA_DIR: dir,
          ...(t!.url ? { DATABASE_URL: t!.url } : { EASYENCLAVE_DB_PATH: t!.filename! }),
          ...env,
        },
        logger: new Logger(buffer),
      });
      return runtime;
    };
    const logs = () => buffer.records().map((r) => r.message);
    const legacyRow = () => t!.db('settings').where({ key: LEGACY_KEY_ROW }).first();
    const dbHolds = async (keyText: string) =>
      (await t!.db('settings').select('value')).some((r) => String(r.value).includes(keyText));

    it('a fresh install creates data/sealing.key (0600) and keeps no key in the database', async () => {
      await setup();
      const rt = await start();
      const file = join(dir, 'sealing.key');
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const text = readFileSync(file, 'utf8').trim();
      expect(rt.sealingKey.current.id).toBe(parseSealingKey(text).id);
      expect(await legacyRow()).toBeUndefined();
      expect(await dbHolds(text)).toBe(false);
      expect(logs().some((m) => m.includes(`created a new sealing key in ${file}`))).toBe(true);
      // A database dump alone cannot open what this install seals.
      const sealed = seal(rt.sealingKey, 'agent-control-secret');
      expect(() => unseal(randomKeyRing(), sealed)).toThrow(UnsealError);
      // A second start (another process) reads the same file.
      const first = rt.sealingKey.current.id;
      await rt.close();
      runtime = undefined;
      expect((await start()).sealingKey.current.id).toBe(first);
    });

    it('an existing install: the key moves from internal.sealing_key to the key file, and old data opens', async () => {
      const legacy = newSealingKey();
      await setup(legacy);
      const oldSealed = seal(keyRing(legacy), 'sealed-by-v0');
      const rt = await start();
      expect(readFileSync(join(dir, 'sealing.key'), 'utf8').trim()).toBe(legacy);
      expect(await legacyRow()).toBeUndefined();
      expect(await dbHolds(legacy)).toBe(false);
      expect(unseal(rt.sealingKey, oldSealed)).toBe('sealed-by-v0');
      expect(logs()).toEqual(
        expect.arrayContaining([
          `moved the sealing key from the database (${LEGACY_KEY_ROW}) to ${join(dir, 'sealing.key')} (mode 0600)`,
          `removed the sealing key from the database (${LEGACY_KEY_ROW}); ${join(dir, 'sealing.key')} now holds it`,
        ]),
      );
    });

    it('a database copy equal to EASYENCLAVE_SEALING_KEY is deleted', async () => {
      const key = newSealingKey();
      await setup(key);
      const rt = await start({ EASYENCLAVE_SEALING_KEY: key });
      expect(rt.sealingKey.current.text).toBe(key);
      expect(await legacyRow()).toBeUndefined();
      expect(logs()).toContain(
        `the database copy of the sealing key (${LEGACY_KEY_ROW}) matches the configured current key; removed it from the database`,
      );
    });

    it('a database copy equal to EASYENCLAVE_SEALING_KEY_PREVIOUS is deleted; it still opens, new data uses the new key', async () => {
      const oldKey = newSealingKey();
      const newKey = newSealingKey();
      await setup(oldKey);
      const before = seal(keyRing(oldKey), 'before');
      const rt = await start({ EASYENCLAVE_SEALING_KEY: newKey, EASYENCLAVE_SEALING_KEY_PREVIOUS: oldKey });
      expect(await legacyRow()).toBeUndefined();
      expect(logs()).toContain(
        `the database copy of the sealing key (${LEGACY_KEY_ROW}) matches the configured previous key; removed it from the database`,
      );
      expect(unseal(rt.sealingKey, before)).toBe('before');
      expect(seal(rt.sealingKey, 'after').sealed.split('.')[0]).toBe(parseSealingKey(newKey).id);
    });

    it('a configured key that differs from the database copy stops the start and leaves the row', async () => {
      const legacy = newSealingKey();
      await setup(legacy);
      await expect(start({ EASYENCLAVE_SEALING_KEY: newSealingKey() })).rejects.toThrow(SealingKeyConfigError);
      runtime = undefined;
      expect((await legacyRow())?.value).toBe(legacy);
    });

    it('production refuses to start without a key from outside the database', async () => {
      await setup(newSealingKey());
      const prod = { EASYENCLAVE_ENV: 'production', AUTH_REQUIRE_GITHUB_OAUTH_IN_PRODUCTION: 'false' };
      await expect(start(prod)).rejects.toThrow(/Production needs a sealing key from outside the database/);
      runtime = undefined;
      // With an explicit key file that does not exist yet, the database key is moved into it.
      const file = join(dir, 'prod.key');
      const rt = await start({ ...prod, EASYENCLAVE_SEALING_KEY_FILE: file });
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(rt.sealingKey.current.id).toBe(parseSealingKey(readFileSync(file, 'utf8')).id);
      expect(await legacyRow()).toBeUndefined();
    });

    it('a key file may hold the previous key on its second line', async () => {
      await setup();
      const [cur, prev] = [newSealingKey(), newSealingKey()];
      writeFileSync(join(dir, 'sealing.key'), `${cur}\n${prev}\n`, { mode: 0o600 });
      const rt = await start();
      expect(rt.sealingKey.current.text).toBe(cur);
      expect(rt.sealingKey.previous?.text).toBe(prev);
    });
  });
}
