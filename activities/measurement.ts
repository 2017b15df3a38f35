/**
 * Activities of the version measurement (workflows/measure-version.ts) and of manual attest / external callbacks
 * (workflows/attest-version.ts). They are the only writers of a version row after its creation; each write is a
 * conditional update on the expected status (core/stores/apps.ts), so a retried activity lands in the same state.
 *
 * measureImage is a pure read of the outside world (registry + cosign): retrying it is always safe.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Knex } from 'knex';
import { ComposeError, decodeCompose, parseCompose, parseImageRef, pinCompose, pinnedRef } from '../core/compose';
import { parseBool, parseMode, parseSet } from '../core/settings/parse';
import type { SettingsReader } from '../core/settings/types';
import {
  VersionStatus,
  attestVersionManually,
  decideVersion,
  getVersionById,
  listPendingVersionsBefore,
  recordMeasurement,
  rejectPendingVersion,
} from '../core/stores/apps';
import {
  type AttestVersionInput,
  type AttestVersionResult,
  type ImageMeasurement,
  type ImageToMeasure,
  type MeasureVersionResult,
  type MeasurementPlan,
  type SignatureMode,
  type StalePendingVersion,
} from '../workflows/contracts/measurement';
import { MeasurementFailureType } from '../workflows/contracts/failures';
import { CosignMissingError, cosignVerify } from './cosign-client';
import { OciError, createOciClient, type OciErrorKind } from './oci-client';

export interface MeasurementDeps {
  db: Knex;
  settings: SettingsReader;
  fetch?: typeof globalThis.fetch;
}

const MODES: readonly SignatureMode[] = ['strict', 'warn', 'disabled'];

const FAILURE_OF: Record<OciErrorKind, MeasurementFailureType> = {
  not_found: MeasurementFailureType.ImageNotFound,
  unauthorized: MeasurementFailureType.RegistryUnauthorized,
  invalid: MeasurementFailureType.RegistryInvalid,
  unavailable: MeasurementFailureType.RegistryUnavailable,
};

function cancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/** strict/warn on the measured images: the failures a person can act on, one per image. */
function signatureFailures(images: ImageMeasurement[]): string[] {
  return images
    .filter((i) => i.signature_verified !== true)
    .map((i) => `service ${i.service}: ${i.signature_error ?? 'signature not verified'}`);
}

function summarize(failures: string[], mode: SignatureMode, app: string): string {
  const shown = failures.slice(0, 5).join('; ');
  const more = failures.length > 5 ? `; ... (+${failures.length - 5} more)` : '';
  return `Image signature verification failed: ${shown}${more} (mode=${mode}, app=${app})`;
}

export function createMeasurementActivities(deps: MeasurementDeps) {
  const { db, settings } = deps;

  async function decide(versionId: string, app: string, mode: SignatureMode, images: ImageMeasurement[]) {
    const failures = mode === 'disabled' ? [] : signatureFailures(images);
    if (mode === 'strict' && images.length === 0) failures.push('no images to verify');
    if (mode === 'strict' && failures.length > 0) {
      const reason = summarize(failures, mode, app);
      await decideVersion(db, versionId, { status: 'rejected', reason });
      return { reason, warnings: [] };
    }
    await decideVersion(db, versionId, { status: 'published', reason: null });
    return { reason: null, warnings: failures };
  }

  return {
    /** Reads the pending version and its compose; `ok: false` with the reason when it cannot be measured. */
    async planMeasurement(input: {
      versionId: string;
    }): Promise<{ ok: true; plan: MeasurementPlan } | { ok: false; reason: string }> {
      const v = await getVersionById(db, input.versionId);
      if (!v) {
        throw ApplicationFailure.nonRetryable(
          `Version ${input.versionId} not found`,
          MeasurementFailureType.VersionNotFound,
        );
      }
      if (v.status !== VersionStatus.Pending) {
        return { ok: false, reason: `version is ${v.status}, not pending; nothing to measure` };
      }
      try {
        const parsed = parseCompose(decodeCompose(v.compose));
        const mode = parseMode(await settings.get('operational.signature_verification_mode'), MODES, 'warn');
        return {
          ok: true,
          plan: {
            versionId: v.version_id,
            appName: v.app_name,
            version: v.version,
            nodeSize: v.node_size,
            mode,
            composeHash: parsed.hash,
            images: parsed.services
              .filter((s) => s.image !== null)
              .map((s) => ({ service: s.service, image: s.image!.original })),
          },
        };
      } catch (err) {
        if (err instanceof ComposeError) return { ok: false, reason: `Invalid compose: ${err.message}` };
        throw err;
      }
    },

    /** Resolves one image to its linux/amd64 digest and verifies its signature under `mode`. */
    async measureImage(input: ImageToMeasure & { mode: SignatureMode }): Promise<ImageMeasurement> {
      let ref;
      try {
        ref = parseImageRef(input.image);
      } catch (err) {
        throw ApplicationFailure.nonRetryable((err as Error).message, MeasurementFailureType.InvalidCompose);
      }
      const insecure = parseSet(await settings.get('operational.oci_insecure_registries'));
      const signal = cancellation();
      const oci = createOciClient({ fetch: deps.fetch, insecureRegistries: [...insecure], signal });
      let resolved;
      try {
        resolved = await oci.resolve(ref);
      } catch (err) {
        if (!(err instanceof OciError)) throw err;
        const type = FAILURE_OF[err.kind];
        // Unavailable stays retryable (the workflow's retry policy backs off); the rest fail at once.
        throw ApplicationFailure.create({
          message: `image ${ref.original}: ${err.message}`,
          type,
          nonRetryable: type !== MeasurementFailureType.RegistryUnavailable,
          details: [{ status: err.status }],
        });
      }
      const pinned = pinnedRef(ref, resolved.digest);
      const base = {
        service: input.service,
        original: ref.original,
        digest: resolved.digest,
        pinned,
        platform: resolved.platform,
      };
      if (input.mode === 'disabled') {
        return {
          ...base,
          signature_verified: null,
          signed_by: null,
          transparency_log_index: null,
          signature_error: 'signature verification disabled',
        };
      }
      const [bin, publicKey, oidcIssuer, identityRegexp, rekorUrl, ignoreTlog] = await Promise.all(
        (
          [
            'operational.cosign_bin',
            'operational.cosign_public_key',
            'operational.cosign_certificate_oidc_issuer',
            'operational.cosign_certificate_identity_regexp',
            'operational.cosign_rekor_url',
            'operational.cosign_ignore_tlog',
          ] as const
        ).map((k) => settings.get(k)),
      );
      const cosignRef = `${ref.registry}/${ref.repository}@${resolved.digest}`;
      try {
        const r = await cosignVerify(cosignRef, {
          bin: bin || 'cosign',
          publicKey: publicKey!,
          oidcIssuer: oidcIssuer!,
          identityRegexp: identityRegexp!,
          rekorUrl: rekorUrl!,
          ignoreTlog: parseBool(ignoreTlog!, false),
          allowHttp: insecure.has(ref.registry),
          fetch: deps.fetch,
          signal,
        });
        const who = publicKey!.trim()
          ? 'the configured cosign key'
          : `any identity matching ${identityRegexp} (issuer ${oidcIssuer})`;
        return {
          ...base,
          signature_verified: r.verified,
          signed_by: r.signedBy,
          transparency_log_index: r.transparencyLogIndex,
          signature_error: r.verified ? null : `image ${ref.original} is not signed by ${who}: ${r.error}`,
        };
      } catch (err) {
        if (err instanceof CosignMissingError) {
          throw ApplicationFailure.nonRetryable(err.message, MeasurementFailureType.CosignMissing);
        }
        throw err;
      }
    },

    /** pending → measured (payload + pinned compose), then the signature policy: → published or rejected. */
    async recordVersionMeasurement(input: {
      plan: MeasurementPlan;
      images: ImageMeasurement[];
    }): Promise<MeasureVersionResult> {
      const { plan, images } = input;
      const v = await getVersionById(db, plan.versionId);
      if (!v) {
        throw ApplicationFailure.nonRetryable(
          `Version ${plan.versionId} not found`,
          MeasurementFailureType.VersionNotFound,
        );
      }
      const text = decodeCompose(v.compose);
      const pins = Object.fromEntries(images.map((i) => [i.service, i.pinned]));
      const failures = plan.mode === 'disabled' ? [] : signatureFailures(images);
      const measuredAt = new Date().toISOString();
      const attestation = {
        measurement_type: 'cp_digest_resolution',
        measured_at: measuredAt,
        node_size: plan.nodeSize,
        compose_hash: plan.composeHash,
        signature_mode: plan.mode,
        resolved_images: Object.fromEntries(images.map(({ service, ...rest }) => [service, rest])),
        signature_warnings: plan.mode === 'warn' ? failures : [],
      };
      await recordMeasurement(db, plan.versionId, {
        attestation,
        pinnedCompose: Buffer.from(pinCompose(text, pins), 'utf8').toString('base64'),
        measuredAt,
      });
      const d = await decide(plan.versionId, `${plan.appName}@${plan.version}`, plan.mode, images);
      const after = await getVersionById(db, plan.versionId);
      const status = after?.status === VersionStatus.Rejected ? 'rejected' : 'published';
      return { versionId: plan.versionId, status, reason: after?.rejection_reason ?? d.reason, warnings: d.warnings };
    },

    /** Pending versions published before now − olderThanSeconds, oldest first (read only). */
    async listStalePendingVersions(input: { olderThanSeconds: number; limit: number }): Promise<StalePendingVersion[]> {
      const cutoff = new Date(Date.now() - input.olderThanSeconds * 1000).toISOString();
      return (await listPendingVersionsBefore(db, cutoff, input.limit)).map((v) => ({
        versionId: v.version_id,
        appName: v.app_name,
        version: v.version,
        nodeSize: v.node_size,
      }));
    },

    async rejectVersion(input: { versionId: string; reason: string }): Promise<void> {
      await rejectPendingVersion(db, input.versionId, input.reason);
    },

    /** Manual attest (any state → published) or an external measurer's callback (pending versions only). */
    async applyVersionAttestation(input: AttestVersionInput): Promise<AttestVersionResult> {
      const v = await getVersionById(db, input.versionId);
      if (!v) return { versionId: input.versionId, found: false, status: '' };
      if (input.kind === 'manual') {
        await attestVersionManually(db, v.version_id, { mrtd: input.mrtd, attestation: input.attestation });
        return { versionId: v.version_id, found: true, status: VersionStatus.Published };
      }
      if (v.status !== VersionStatus.Pending) return { versionId: v.version_id, found: true, status: v.status };
      if (!input.success || !input.measurement) {
        await rejectPendingVersion(db, v.version_id, input.error ?? 'external measurement failed');
        return { versionId: v.version_id, found: true, status: VersionStatus.Rejected };
      }
      const mode = parseMode(await settings.get('operational.signature_verification_mode'), MODES, 'warn');
      const resolved = input.measurement.resolved_images;
      const images: ImageMeasurement[] = [];
      const pins: Record<string, string> = {};
      if (typeof resolved === 'object' && resolved !== null && !Array.isArray(resolved)) {
        for (const [service, entry] of Object.entries(resolved as Record<string, Record<string, unknown>>)) {
          const original = String(entry?.original ?? '');
          const digest = String(entry?.digest ?? '');
          let pinned = '';
          try {
            if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new ComposeError(`digest '${digest}' is not sha256`);
            pinned = pinnedRef(parseImageRef(original), digest);
          } catch (err) {
            await rejectPendingVersion(db, v.version_id, `service ${service}: ${(err as Error).message}`);
            return { versionId: v.version_id, found: true, status: VersionStatus.Rejected };
          }
          pins[service] = pinned;
          images.push({
            service,
            original,
            digest,
            pinned,
            platform: null,
            signature_verified: typeof entry?.signature_verified === 'boolean' ? entry.signature_verified : null,
            signed_by: typeof entry?.signed_by === 'string' ? entry.signed_by : null,
            transparency_log_index: null,
            signature_error: typeof entry?.signature_error === 'string' ? entry.signature_error : null,
          });
        }
      }
      let pinnedCompose: string;
      try {
        pinnedCompose = Buffer.from(pinCompose(decodeCompose(v.compose), pins), 'utf8').toString('base64');
      } catch (err) {
        await rejectPendingVersion(db, v.version_id, `Invalid measurement: ${(err as Error).message}`);
        return { versionId: v.version_id, found: true, status: VersionStatus.Rejected };
      }
      const measuredAt = new Date().toISOString();
      await recordMeasurement(db, v.version_id, {
        attestation: { ...input.measurement, measurement_type: 'external_callback', measured_at: measuredAt },
        pinnedCompose,
        measuredAt,
      });
      await decide(v.version_id, `${v.app_name}@${v.version}`, mode, images);
      const after = await getVersionById(db, v.version_id);
      return { versionId: v.version_id, found: true, status: after?.status ?? '' };
    },
  };
}

export type MeasurementActivities = ReturnType<typeof createMeasurementActivities>;
