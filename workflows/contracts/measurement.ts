/**
 * Contracts of the catalog's version processes: `measure:<app>:<version>[:<node_size>]` (started on publish:
 * resolve every image to its digest, verify signatures, record, decide) and `version-attest:<version_id>:<request>`
 * (an admin's manual attest or an external measurer's callback, written by the same activities). The compose stays
 * in the `app_versions` row; inputs carry ids.
 */

export const measurementWorkflowId = (appName: string, version: string, nodeSize: string) =>
  `measure:${appName}:${version}${nodeSize ? `:${nodeSize}` : ''}`;
export const attestVersionWorkflowId = (versionId: string, requestId: string) =>
  `version-attest:${versionId}:${requestId}`;

export type SignatureMode = 'strict' | 'warn' | 'disabled';

export interface MeasureVersionInput {
  versionId: string;
}

export interface ImageToMeasure {
  service: string;
  image: string;
}

export interface MeasurementPlan {
  versionId: string;
  appName: string;
  version: string;
  nodeSize: string;
  mode: SignatureMode;
  composeHash: string;
  images: ImageToMeasure[];
}

/** One entry of `resolved_images` (background.md §7.3, plus the pinned reference and platform). */
export interface ImageMeasurement {
  service: string;
  original: string;
  digest: string;
  pinned: string;
  platform: string | null;
  signature_verified: boolean | null;
  signed_by: string | null;
  transparency_log_index: number | null;
  signature_error: string | null;
}

export interface MeasureVersionResult {
  versionId: string;
  status: 'published' | 'rejected';
  reason: string | null;
  warnings: string[];
}

export type AttestVersionInput =
  | {
      kind: 'manual';
      versionId: string;
      mrtd: string | null;
      attestation: Record<string, unknown> | null;
      actor: string;
    }
  | {
      kind: 'callback';
      versionId: string;
      success: boolean;
      error: string | null;
      measurement: Record<string, unknown> | null;
    };

export interface AttestVersionResult {
  versionId: string;
  found: boolean;
  status: string;
}

export interface MeasurementSweepInput {
  /** Pending versions published longer ago than this are (re)started. Default 300. */
  olderThanSeconds?: number;
}

export interface MeasurementSweepResult {
  found: number;
  started: number;
  /** Already had a running measurement. */
  running: number;
}

export interface StalePendingVersion {
  versionId: string;
  appName: string;
  version: string;
  nodeSize: string;
}
