/**
 * The `publish` action: `POST /api/v1/apps/{app}/versions` with the compose (base64), then poll
 * `GET /api/v1/apps/{app}/versions/{version}?node_size=` while the `measure:` workflow resolves and checks its
 * images: `published` → outputs; `rejected` → the step fails with the CP's `rejection_reason`. Versions are
 * immutable: an existing version fails the step (409) unless `on_conflict: suffix` asks for v1's behaviour
 * (append `-<UTC yyyymmddHHMMSS>` and publish once more).
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CpError, controlPlaneUrl, cpClient, credential, explain } from '../lib/cp';
import {
  ActionFailure,
  appendSummary,
  cell,
  getInput,
  getIntInput,
  info,
  setOutput,
  warning,
  type ActionIo,
} from '../lib/toolkit';

interface Version {
  version_id: string;
  version: string;
  status: string;
  rejection_reason: string | null;
  mrtd: string | null;
  node_size: string;
}

const DONE = new Set(['published', 'attested']);
const REJECTED = new Set(['rejected', 'failed']);

function stamp(now: Date): string {
  return now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

export async function publish(io: ActionIo): Promise<void> {
  const baseUrl = controlPlaneUrl(io);
  const app = getInput(io, 'app_name', { required: true });
  const ref = io.env.GITHUB_REF ?? '';
  const onTag = ref.startsWith('refs/tags/');
  let version = getInput(io, 'version', { default: onTag ? (io.env.GITHUB_REF_NAME ?? '') : '' });
  if (!version) throw new ActionFailure('version is required when not running on a tag');
  const composeFile = getInput(io, 'compose_file', { default: 'docker-compose.yml' });
  const nodeSize = getInput(io, 'node_size');
  const onConflict = getInput(io, 'on_conflict', { default: 'fail' });
  if (onConflict !== 'fail' && onConflict !== 'suffix')
    throw new ActionFailure("on_conflict must be 'fail' or 'suffix'");
  const timeoutSeconds = getIntInput(io, 'timeout_seconds', 900, 1);
  const pollSeconds = getIntInput(io, 'poll_seconds', 5, 0);
  const path = resolve(io.env.GITHUB_WORKSPACE ?? process.cwd(), composeFile);
  if (!existsSync(path)) throw new ActionFailure(`compose_file not found: ${composeFile} (looked at ${path})`);

  const body: Record<string, unknown> = {
    version,
    compose: Buffer.from(readFileSync(path)).toString('base64'),
    node_size: nodeSize,
    source_commit: getInput(io, 'source_commit', { default: io.env.GITHUB_SHA ?? '' }) || null,
  };
  const sourceTag = getInput(io, 'source_tag', { default: onTag ? (io.env.GITHUB_REF_NAME ?? '') : '' });
  if (sourceTag) body.source_tag = sourceTag;
  const imageDigest = getInput(io, 'image_digest');
  if (imageDigest) body.image_digest = imageDigest;

  const { token } = await credential(io);
  const cp = cpClient(io, baseUrl, token);
  const versionsPath = `/api/v1/apps/${encodeURIComponent(app)}/versions`;
  let v: Version;
  try {
    v = (await cp.call<Version>('POST', versionsPath, body)).body;
  } catch (err) {
    if (!(err instanceof CpError)) throw err;
    if (err.status === 409 && onConflict === 'suffix') {
      version = `${version}-${stamp(new Date())}`;
      warning(io, `${err.detail}; publishing as ${version} instead (on_conflict: suffix)`);
      try {
        v = (await cp.call<Version>('POST', versionsPath, { ...body, version })).body;
      } catch (again) {
        if (again instanceof CpError) throw new ActionFailure(explain(again, `Publishing ${app}@${version}`));
        throw again;
      }
    } else {
      throw new ActionFailure(explain(err, `Publishing ${app}@${version}`));
    }
  }
  info(io, `Published ${app}@${version} (${v.version_id}); waiting for its measurement`);
  setOutput(io, 'version', version);
  setOutput(io, 'version_id', v.version_id);

  const readPath = `${versionsPath}/${encodeURIComponent(version)}?node_size=${encodeURIComponent(nodeSize)}`;
  const deadline = Date.now() + timeoutSeconds * 1000;
  let last = v.status;
  info(io, `${app}@${version}: ${v.status}`);
  while (!DONE.has(v.status) && !REJECTED.has(v.status)) {
    if (Date.now() >= deadline) {
      throw new ActionFailure(`${app}@${version} is still '${v.status}' after ${timeoutSeconds} s (timeout_seconds)`);
    }
    await io.sleep(pollSeconds * 1000);
    try {
      v = (await cp.call<Version>('GET', readPath)).body;
    } catch (err) {
      if (err instanceof CpError && err.status >= 500) {
        warning(io, `Reading ${app}@${version}: ${err.status} ${err.detail}; retrying`);
        continue;
      }
      if (err instanceof CpError) throw new ActionFailure(explain(err, `Reading ${app}@${version}`));
      throw err;
    }
    if (v.status !== last) info(io, `${app}@${version}: ${v.status}`);
    last = v.status;
  }
  setOutput(io, 'status', v.status);
  setOutput(io, 'rejection_reason', v.rejection_reason ?? '');
  setOutput(io, 'mrtd', v.mrtd ?? '');
  appendSummary(
    io,
    `### easyenclave publish\n\n| app | version | status | reason |\n| --- | --- | --- | --- |\n` +
      `| ${cell(app)} | ${cell(version)} | ${v.status} | ${cell(v.rejection_reason)} |\n`,
  );
  if (REJECTED.has(v.status)) {
    throw new ActionFailure(
      `${app}@${version} was rejected by its measurement: ${v.rejection_reason ?? 'no reason given'}`,
    );
  }
}
