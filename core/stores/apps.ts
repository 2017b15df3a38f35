/** App catalog reads (tables `apps`, `app_versions`); the catalog issue adds the writes. */
import type { Knex } from 'knex';
import type { AppVersionRow } from '../db/tables';

export async function appExists(db: Knex, name: string): Promise<boolean> {
  return (await db('apps').where({ name }).first('name')) !== undefined;
}

/**
 * The version variant to run on `nodeSize`: the size-specific one if published, else the
 * generic one (node_size ''), else undefined.
 */
export async function findVersionVariant(
  db: Knex,
  appName: string,
  version: string,
  nodeSize: string,
): Promise<AppVersionRow | undefined> {
  const variants: AppVersionRow[] = await db<AppVersionRow>('app_versions')
    .where({ app_name: appName, version })
    .whereIn('node_size', [nodeSize, '']);
  return variants.find((x) => x.node_size === nodeSize) ?? variants.find((x) => x.node_size === '');
}
