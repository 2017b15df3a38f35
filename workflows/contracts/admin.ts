/**
 * Contracts of the admin-change workflows: each settings or trusted-MRTD write is one
 * workflow execution, so the Web UI is the audit log of who changed what.
 */

/** Secret values travel sealed (core/auth/seal.ts); `display` is what the history shows. */
export type SettingValue = { plain: string } | { sealed: string };

export interface ChangeSettingInput {
  action: 'put' | 'delete';
  key: string;
  value?: SettingValue;
  /** Masked for secrets. */
  display: string;
  actor: string;
}

export interface ChangeSettingResult {
  key: string;
  action: 'put' | 'delete';
  /** For delete: whether a DB row existed. */
  changed: boolean;
}

export interface ChangeTrustedMrtdInput {
  action: 'upsert' | 'delete';
  mrtd: string;
  type?: 'agent' | 'proxy';
  note?: string;
  actor: string;
}

export interface ChangeTrustedMrtdResult {
  action: 'upsert' | 'delete';
  mrtd: string;
  found: boolean;
  type?: 'agent' | 'proxy';
  note?: string;
}

export const changeSettingWorkflowId = (key: string, requestId: string) => `admin-setting:${key}:${requestId}`;
export const changeTrustedMrtdWorkflowId = (mrtd: string, requestId: string) =>
  `admin-trusted-mrtd:${mrtd}:${requestId}`;
