/** Who may log in how (spec/attestation.md §7.3, settings.md §5). */
import { parseBool } from '../settings/parse';
import type { SettingsReader } from '../settings/types';

export async function passwordLoginAllowed(settings: SettingsReader, production: boolean): Promise<boolean> {
  const enabled = parseBool(await settings.get('auth.password_login_enabled'), true);
  if (!enabled) return false;
  return !production || parseBool(await settings.get('auth.allow_password_login_in_production'), false);
}

export async function githubOAuthConfigured(settings: SettingsReader): Promise<boolean> {
  const [id, secret, redirect] = await Promise.all([
    settings.get('github_oauth.client_id'),
    settings.get('github_oauth.client_secret'),
    settings.get('github_oauth.redirect_uri'),
  ]);
  return id !== '' && secret !== '' && redirect !== '';
}
