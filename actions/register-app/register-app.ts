/**
 * The `register-app` action, idempotent: `GET /api/v1/apps/{name}` → present: its `app_id`; absent (404):
 * `POST /api/v1/apps` (the caller — the OIDC repository owner or the API key's account — becomes a maintainer);
 * a 409 from a concurrent registration reads the app again.
 */
import { CpError, controlPlaneUrl, cpClient, credential, explain } from '../lib/cp';
import { ActionFailure, appendSummary, getInput, getListInput, info, setOutput, type ActionIo } from '../lib/toolkit';

interface App {
  app_id: string;
  name: string;
}

export async function registerApp(io: ActionIo): Promise<void> {
  const baseUrl = controlPlaneUrl(io);
  const name = getInput(io, 'name', { required: true });
  const body = {
    name,
    description: getInput(io, 'description'),
    source_repo: getInput(io, 'source_repo', { default: io.env.GITHUB_REPOSITORY ?? '' }) || null,
    maintainers: getListInput(io, 'maintainers'),
    tags: getListInput(io, 'tags'),
  };
  const { token } = await credential(io);
  const cp = cpClient(io, baseUrl, token);
  const path = `/api/v1/apps/${encodeURIComponent(name)}`;

  const existing = async (): Promise<App | null> => {
    try {
      return (await cp.call<App>('GET', path)).body;
    } catch (err) {
      if (err instanceof CpError && err.status === 404) return null;
      if (err instanceof CpError) throw new ActionFailure(explain(err, `Looking up app '${name}'`));
      throw err;
    }
  };

  let app = await existing();
  let created = false;
  if (!app) {
    try {
      app = (await cp.call<App>('POST', '/api/v1/apps', body)).body;
      created = true;
    } catch (err) {
      if (!(err instanceof CpError)) throw err;
      if (err.status !== 409) throw new ActionFailure(explain(err, `Registering app '${name}'`));
      app = await existing(); // registered concurrently
      if (!app) throw new ActionFailure(explain(err, `Registering app '${name}'`));
    }
  }
  if (!app?.app_id) throw new ActionFailure(`The control plane answered without an app_id for '${name}'`);
  info(
    io,
    created ? `Registered app '${name}' (${app.app_id})` : `App '${name}' is already registered (${app.app_id})`,
  );
  setOutput(io, 'app_id', app.app_id);
  setOutput(io, 'created', String(created));
  appendSummary(
    io,
    `### easyenclave app\n\n\`${name}\` ${created ? 'registered' : 'already registered'}: \`${app.app_id}\`\n`,
  );
}
