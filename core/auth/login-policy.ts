/** Who may log in how (spec/attestation.md §7.3, settings.md §5). */
import { settingBool } from '../settings/read';
import type { SettingsReader } from '../settings/types';

export async function passwordLoginAllowed(settings: SettingsReader, production: boolean): Promise<boolean> {
  const enabled = await settingBool(settings, 'auth.password_login_enabled');
  if (!enabled) return false;
  return !production || (await settingBool(settings, 'auth.allow_password_login_in_production'));
}

export async function githubOAuthConfigured(settings: SettingsReader): Promise<boolean> {
  const [id, secret, redirect] = await Promise.all([
    settings.get('github_oauth.client_id'),
    settings.get('github_oauth.client_secret'),
    settings.get('github_oauth.redirect_uri'),
  ]);
  return id !== '' && secret !== '' && redirect !== '';
}
