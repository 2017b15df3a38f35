/**
 * The app catalog (tables `apps`, `app_versions`). Rows are mapped to domain objects here and nowhere else.
 *
 * Writers: the API creates apps and `pending` versions and deletes apps; every later change of a version row
 * (measurement, decision, manual attest, callback) is made by the measurement activities (activities/measurement.ts)
 * through the conditional updates at the bottom of this file.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { parseJsonColumn, requireIso, toIso, type AppRow, type AppVersionRow } from '../db/tables';
import { filteredKeysetPage, keyTime } from '../db/keyset';
import type { Page, PageRequest } from '../pagination';

type Db = Knex | Knex.Transaction;

/** SEED.md statuses; `attested`/`failed` are v1's names, still accepted when read. */
export const VersionStatus = {
  Pending: 'pending',
  Measured: 'measured',
  Published: 'published',
  Rejected: 'rejected',
} as const;
export type VersionStatus = (typeof VersionStatus)[keyof typeof VersionStatus];
/** Statuses a catalog deploy accepts (v1 rows said `attested`). */
export const DEPLOYABLE_STATUSES: readonly string[] = [VersionStatus.Published, 'attested'];

export interface App {
  app_id: string;
  name: string;
  description: string;
  source_repo: string | null;
  maintainers: string[];
  maintainer_accounts: string[];
  tags: string[];
  created_at: string;
}

export interface IngressRule {
  path?: string;
  port: number;
}

export interface AppVersion {
  version_id: string;
  app_name: string;
  version: string;
  node_size: string;
  compose: string;
  pinned_compose: string | null;
  image_digest: string | null;
  source_commit: string | null;
  source_tag: string | null;
  mrtd: string | null;
  attestation: Record<string, unknown> | null;
  ingress: IngressRule[] | null;
  status: string;
  rejection_reason: string | null;
  published_at: string;
  measured_at: string | null;
}

const strings = (v: unknown): string[] => {
  const a = parseJsonColumn<unknown>(v, []);
  return Array.isArray(a) ? a.filter((x): x is string => typeof x === 'string') : [];
};

function toApp(r: AppRow): App {
  return {
    app_id: r.app_id,
    name: r.name,
    description: r.description,
    source_repo: r.source_repo,
    maintainers: strings(r.maintainers),
    maintainer_accounts: strings(r.maintainer_accounts),
    tags: strings(r.tags),
    created_at: requireIso(r.created_at),
  };
}

function toVersion(r: AppVersionRow): AppVersion {
  const attestation = parseJsonColumn<unknown>(r.attestation, null);
  const ingress = parseJsonColumn<unknown>(r.ingress, null);
  return {
    version_id: r.version_id,
    app_name: r.app_name,
    version: r.version,
    node_size: r.node_size,
    compose: r.compose,
    pinned_compose: r.pinned_compose ?? null,
    image_digest: r.image_digest,
    source_commit: r.source_commit,
    source_tag: r.source_tag,
    mrtd: r.mrtd,
    attestation:
      typeof attestation === 'object' && attestation !== null && !Array.isArray(attestation)
        ? (attestation as Record<string, unknown>)
        : null,
    ingress: Array.isArray(ingress) ? (ingress as IngressRule[]) : null,
    status: r.status,
    rejection_reason: r.rejection_reason,
    published_at: requireIso(r.published_at),
    measured_at: toIso(r.measured_at ?? null),
  };
}

// ---------- apps ----------

export async function appExists(db: Db, name: string): Promise<boolean> {
  return (await db('apps').where({ name }).first('name')) !== undefined;
}

export async function getApp(db: Db, name: string): Promise<App | undefined> {
  const r = (await db<AppRow>('apps').where({ name }).first()) as AppRow | undefined;
  return r ? toApp(r) : undefined;
}

export async function createApp(
  db: Db,
  input: Omit<App, 'app_id' | 'created_at'>,
  now: string,
): Promise<App | { error: 'exists' }> {
  const row = {
    app_id: randomUUID(),
    name: input.name,
    description: input.description,
    source_repo: input.source_repo,
    maintainers: JSON.stringify(input.maintainers),
    maintainer_accounts: JSON.stringify(input.maintainer_accounts),
    tags: JSON.stringify(input.tags),
    created_at: now,
  };
  // A concurrent create of the same name loses at the unique key, not in a read-then-write race.
  await db('apps').insert(row).onConflict('name').ignore();
  const app = await getApp(db, input.name);
  return app && app.app_id === row.app_id ? app : { error: 'exists' };
}

export interface AppFilter {
  name?: string;
  tags?: string[];
}

/** Creation order, served by the apps_created_at_name index. */
const APP_KEY = ['created_at', 'name'] as const;

function appsQuery(db: Db, filter: AppFilter): Knex.QueryBuilder {
  const q = db<AppRow>('apps');
  if (filter.name) q.whereRaw('lower(name) like ?', [`%${filter.name.toLowerCase().replace(/[%_\\]/g, '\\$&')}%`]);
  return q;
}

/** `tags` is a JSON text column: the overlap is decided in code. */
const tagFilter = (filter: AppFilter) => {
  const tags = new Set(filter.tags ?? []);
  return (a: App) => tags.size === 0 || a.tags.some((t) => tags.has(t));
};

/** v1 filters: `name` case-insensitive substring, `tags` any overlap. */
export async function listApps(db: Db, filter: AppFilter): Promise<App[]> {
  const rows = (await appsQuery(db, filter).orderBy(APP_KEY.map((column) => ({ column })))) as AppRow[];
  return rows.map(toApp).filter(tagFilter(filter));
}

/** One keyset page of `listApps` (full pages even when the tag filter drops rows). */
export async function listAppsPage(db: Db, filter: AppFilter, page: PageRequest): Promise<Page<App>> {
  const keep = tagFilter(filter);
  const p = await filteredKeysetPage<AppRow>(
    () => appsQuery(db, filter),
    APP_KEY,
    'asc',
    page,
    (r) => [keyTime(r.created_at), r.name],
    (r) => keep(toApp(r)),
  );
  return { items: p.items.map(toApp), next: p.next };
}

/** Deletes the app row only (v1: versions and revenue shares remain). */
export async function deleteApp(db: Db, name: string): Promise<boolean> {
  return (await db('apps').where({ name }).delete()) > 0;
}

export async function setMaintainers(
  db: Db,
  name: string,
  m: { maintainers: string[]; maintainer_accounts: string[] },
): Promise<App | undefined> {
  await db('apps')
    .where({ name })
    .update({ maintainers: JSON.stringify(m.maintainers), maintainer_accounts: JSON.stringify(m.maintainer_accounts) });
  return getApp(db, name);
}

// ---------- versions ----------

export async function insertVersion(
  db: Db,
  input: {
    app_name: string;
    version: string;
    node_size: string;
    compose: string;
    image_digest: string | null;
    source_commit: string | null;
    source_tag: string | null;
    ingress: IngressRule[] | null;
  },
  now: string,
): Promise<AppVersion | { error: 'exists' }> {
  const versionId = randomUUID();
  await db('app_versions')
    .insert({
      version_id: versionId,
      ...input,
      ingress: input.ingress ? JSON.stringify(input.ingress) : null,
      status: VersionStatus.Pending,
      published_at: now,
    })
    .onConflict(['app_name', 'version', 'node_size'])
    .ignore();
  const v = await getVersionById(db, versionId);
  return v ?? { error: 'exists' };
}

export async function getVersionById(db: Db, versionId: string): Promise<AppVersion | undefined> {
  const r = (await db<AppVersionRow>('app_versions').where({ version_id: versionId }).first()) as
    AppVersionRow | undefined;
  return r ? toVersion(r) : undefined;
}

export async function getVersion(
  db: Db,
  appName: string,
  version: string,
  nodeSize: string,
): Promise<AppVersion | undefined> {
  const r = (await db<AppVersionRow>('app_versions')
    .where({ app_name: appName, version, node_size: nodeSize })
    .first()) as AppVersionRow | undefined;
  return r ? toVersion(r) : undefined;
}

/** Newest `published_at` first. */
export async function listVersions(db: Db, appName: string): Promise<AppVersion[]> {
  const rows = (await db<AppVersionRow>('app_versions')
    .where({ app_name: appName })
    .orderBy([
      { column: 'published_at', order: 'desc' },
      { column: 'version_id', order: 'asc' },
    ])) as AppVersionRow[];
  return rows.map(toVersion);
}

/**
 * The version variant to run on `nodeSize`: the size-specific one if published, else the
 * generic one (node_size ''), else undefined.
 */
export async function findVersionVariant(
  db: Db,
  appName: string,
  version: string,
  nodeSize: string,
): Promise<AppVersion | undefined> {
  const variants = (await db<AppVersionRow>('app_versions')
    .where({ app_name: appName, version })
    .whereIn('node_size', [nodeSize, ''])) as AppVersionRow[];
  const r = variants.find((x) => x.node_size === nodeSize) ?? variants.find((x) => x.node_size === '');
  return r ? toVersion(r) : undefined;
}

/** Pending versions published before `cutoff` (ISO), oldest first. */
export async function listPendingVersionsBefore(db: Db, cutoff: string, limit: number): Promise<AppVersion[]> {
  const rows = (await db<AppVersionRow>('app_versions')
    .where({ status: VersionStatus.Pending })
    .where('published_at', '<=', cutoff)
    .orderBy([
      { column: 'published_at', order: 'asc' },
      { column: 'version_id', order: 'asc' },
    ])
    .limit(limit)) as AppVersionRow[];
  return rows.map(toVersion);
}

// ---------- version transitions (measurement activities only) ----------

/**
 * pending → measured with the measurement payload and the pinned compose. Idempotent: a retry after success finds
 * the version measured already and changes nothing (false); measured versions are never overwritten.
 */
export async function recordMeasurement(
  db: Db,
  versionId: string,
  m: { attestation: Record<string, unknown>; pinnedCompose: string; measuredAt: string },
): Promise<boolean> {
  return (
    (await db('app_versions')
      .where({ version_id: versionId, status: VersionStatus.Pending })
      .update({
        status: VersionStatus.Measured,
        attestation: JSON.stringify(m.attestation),
        pinned_compose: m.pinnedCompose,
        measured_at: m.measuredAt,
        rejection_reason: null,
      })) > 0
  );
}

/** measured → published | rejected (the signature policy's decision). */
export async function decideVersion(
  db: Db,
  versionId: string,
  d: { status: 'published' | 'rejected'; reason: string | null },
): Promise<void> {
  await db('app_versions')
    .where({ version_id: versionId, status: VersionStatus.Measured })
    .update({ status: d.status, rejection_reason: d.reason });
}

/** pending → rejected when the measurement itself failed (bad compose, registry error). */
export async function rejectPendingVersion(db: Db, versionId: string, reason: string): Promise<void> {
  await db('app_versions')
    .where({ version_id: versionId, status: VersionStatus.Pending })
    .update({ status: VersionStatus.Rejected, rejection_reason: reason.slice(0, 2000) });
}

/** Manual attest (admin): → published from any state; mrtd/attestation only overwritten when given. */
export async function attestVersionManually(
  db: Db,
  versionId: string,
  m: { mrtd: string | null; attestation: Record<string, unknown> | null },
): Promise<boolean> {
  const patch: Record<string, unknown> = { status: VersionStatus.Published, rejection_reason: null };
  if (m.mrtd !== null) patch.mrtd = m.mrtd;
  if (m.attestation !== null) patch.attestation = JSON.stringify(m.attestation);
  return (await db('app_versions').where({ version_id: versionId }).update(patch)) > 0;
}
