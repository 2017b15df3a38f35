/**
 * The `deploy` action: mint the job's OIDC token (or take an API key), POST the deployment — a compose file to
 * `/api/v1/deploy`, or a published catalog version to `/api/v1/apps/{app}/versions/{version}/deploy` — then poll
 * `GET /api/v1/deployments/{id}` until it is `running` (outputs, summary) or ends (`failed`/`stopped`: the step
 * fails with the agent's reason). `dry_run: true` prints the placement the CP would choose and changes nothing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CpError, controlPlaneUrl, cpClient, credential, explain, type CpClient } from '../lib/cp';
import {
  ActionFailure,
  appendSummary,
  cell,
  getBooleanInput,
  getInput,
  getIntInput,
  getListInput,
  info,
  setOutput,
  warning,
  type ActionIo,
} from '../lib/toolkit';
import { addEncryptedEnv } from './secrets';

interface Issue {
  code: string;
  message: string;
  agent_id: string | null;
  node_size: string | null;
  datacenter: string | null;
}
interface Preflight {
  eligible: boolean;
  selected_agent_id: string | null;
  selected_datacenter: string | null;
  selected_node_size: string | null;
  reason: string;
  owner_scope: string;
  issues: Issue[];
}
interface Deployment {
  deployment_id: string;
  agent_id: string;
  status: string;
  error: string | null;
}

const ENDED = new Set(['failed', 'stopped', 'undeployed', 'cancelled', 'terminated']);

function readCompose(io: ActionIo, file: string): string {
  const path = resolve(io.env.GITHUB_WORKSPACE ?? process.cwd(), file);
  if (!existsSync(path)) throw new ActionFailure(`compose_file not found: ${file} (looked at ${path})`);
  const text = readFileSync(path, 'utf8');
  if (!/^services\s*:/m.test(text)) {
    throw new ActionFailure(`compose_file ${file} is not a docker compose file (no top-level 'services:')`);
  }
  return Buffer.from(text, 'utf8').toString('base64');
}

function printIssues(io: ActionIo, p: Preflight): void {
  info(io, `Placement: eligible=${p.eligible} owner=${p.owner_scope} reason: ${p.reason}`);
  for (const i of p.issues) {
    const where = [
      i.agent_id && `agent=${i.agent_id}`,
      i.datacenter && `dc=${i.datacenter}`,
      i.node_size && `size=${i.node_size}`,
    ]
      .filter(Boolean)
      .join(' ');
    info(io, `  ${i.code}: ${i.message}${where ? ` [${where}]` : ''}`);
  }
}

/** The dry run's explanation after a refused deploy; best effort (its own failure is only a warning). */
async function diagnose(io: ActionIo, cp: CpClient, path: string, body: Record<string, unknown>): Promise<void> {
  try {
    const pre = await cp.call<Preflight>('POST', path, { ...body, dry_run: true });
    printIssues(io, pre.body);
  } catch (err) {
    warning(io, `Preflight for diagnostics failed too: ${(err as Error).message}`);
  }
}

export async function deploy(io: ActionIo): Promise<void> {
  const baseUrl = controlPlaneUrl(io);
  const appName = getInput(io, 'app_name');
  const version = getInput(io, 'version');
  const composeFile = getInput(io, 'compose_file');
  const serviceName = getInput(io, 'service_name', { default: appName });
  const dryRun = getBooleanInput(io, 'dry_run');
  const timeoutSeconds = getIntInput(io, 'timeout_seconds', 600, 1);
  const pollSeconds = getIntInput(io, 'poll_seconds', 5, 0);
  const retries = getIntInput(io, 'placement_retries', 0, 0);
  const retrySeconds = getIntInput(io, 'placement_retry_seconds', 30, 0);
  if (!version && !composeFile) throw new ActionFailure('Give compose_file (deploy a compose) or app_name + version');
  if (version && !appName) throw new ActionFailure('version needs app_name (a published catalog version)');
  if (version && composeFile) throw new ActionFailure('Give either compose_file or version, not both');

  const config: Record<string, unknown> = {};
  if (serviceName) config.service_name = serviceName;
  const health = getInput(io, 'health_endpoint');
  if (health) config.health_endpoint = health;
  const body: Record<string, unknown> = {
    config,
    node_size: getInput(io, 'node_size'),
    allowed_datacenters: getListInput(io, 'allowed_datacenters'),
    denied_datacenters: getListInput(io, 'denied_datacenters'),
    allowed_clouds: getListInput(io, 'allowed_clouds'),
    denied_clouds: getListInput(io, 'denied_clouds'),
    dry_run: dryRun,
  };
  const agentId = getInput(io, 'agent_id');
  if (agentId) body.agent_id = agentId;
  let path: string;
  if (version) {
    path = `/api/v1/apps/${encodeURIComponent(appName)}/versions/${encodeURIComponent(version)}/deploy`;
  } else {
    path = '/api/v1/deploy';
    body.compose = readCompose(io, composeFile);
    if (appName) body.app_name = appName;
  }

  const { token, kind } = await credential(io);
  const cp = cpClient(io, baseUrl, token);
  const what = version ? `Deploy of ${appName}@${version}` : `Deploy of ${composeFile}`;
  info(io, `${what} to ${baseUrl} (${kind === 'oidc' ? 'GitHub OIDC' : 'API key'}${dryRun ? ', dry run' : ''})`);

  if (!dryRun) await addEncryptedEnv(io, cp, baseUrl, path, body);

  if (dryRun) {
    let pre: Preflight;
    try {
      pre = (await cp.call<Preflight>('POST', path, body)).body;
    } catch (err) {
      if (err instanceof CpError) throw new ActionFailure(explain(err, `Dry run of ${what.toLowerCase()}`));
      throw err;
    }
    printIssues(io, pre);
    setOutput(io, 'eligible', String(pre.eligible));
    setOutput(io, 'agent_id', pre.selected_agent_id ?? '');
    appendSummary(
      io,
      `### easyenclave dry run\n\n| eligible | agent | datacenter | reason |\n| --- | --- | --- | --- |\n` +
        `| ${pre.eligible} | ${cell(pre.selected_agent_id)} | ${cell(pre.selected_datacenter)} | ${cell(pre.reason)} |\n`,
    );
    if (!pre.eligible) throw new ActionFailure(`Dry run: this deployment would not be placed: ${pre.reason}`);
    return;
  }

  let accepted: { deployment_id: string; agent_id: string | null; status: string } | undefined;
  for (let attempt = 0; !accepted; attempt++) {
    try {
      accepted = (await cp.call('POST', path, body)).body;
    } catch (err) {
      if (!(err instanceof CpError)) throw err;
      if (err.status === 503 && attempt < retries) {
        warning(io, `No eligible agent yet (${err.detail}); retry ${attempt + 1}/${retries} in ${retrySeconds} s`);
        await io.sleep(retrySeconds * 1000);
        continue;
      }
      if (err.status === 503 || err.status === 400 || err.status === 403) await diagnose(io, cp, path, body);
      throw new ActionFailure(explain(err, what));
    }
  }
  const id = accepted.deployment_id;
  info(
    io,
    `Deployment ${id} accepted (status ${accepted.status}${accepted.agent_id ? `, agent ${accepted.agent_id}` : ''})`,
  );
  setOutput(io, 'deployment_id', id);

  const deadline = Date.now() + timeoutSeconds * 1000;
  let last = '';
  let d: Deployment;
  for (;;) {
    try {
      d = (await cp.call<Deployment>('GET', `/api/v1/deployments/${encodeURIComponent(id)}`)).body;
    } catch (err) {
      if (!(err instanceof CpError) || err.status < 500) {
        throw err instanceof CpError ? new ActionFailure(explain(err, `Reading deployment ${id}`)) : err;
      }
      warning(io, `Reading deployment ${id}: ${err.status} ${err.detail}; retrying`);
      d = { deployment_id: id, agent_id: '', status: last || 'unknown', error: null };
    }
    if (d.status !== last) {
      info(io, `Deployment ${id}: ${d.status}${d.agent_id ? ` on agent ${d.agent_id}` : ''}`);
      last = d.status;
    }
    if (d.status === 'running') break;
    if (ENDED.has(d.status)) {
      setOutput(io, 'status', d.status);
      appendSummary(
        io,
        `### easyenclave deployment ${d.status}\n\nDeployment \`${id}\`: ${cell(d.error ?? d.status)}\n`,
      );
      throw new ActionFailure(
        `Deployment ${id} ${d.status}${d.agent_id ? ` on agent ${d.agent_id}` : ''}: ${d.error ?? 'no reason given'}`,
      );
    }
    if (Date.now() >= deadline) {
      throw new ActionFailure(`Deployment ${id} is still '${d.status}' after ${timeoutSeconds} s (timeout_seconds)`);
    }
    await io.sleep(pollSeconds * 1000);
  }

  const serviceUrl = serviceName ? `${baseUrl}/proxy/${encodeURIComponent(serviceName)}/` : '';
  setOutput(io, 'agent_id', d.agent_id);
  setOutput(io, 'status', d.status);
  setOutput(io, 'service_url', serviceUrl);
  info(io, `Deployment ${id} is running on agent ${d.agent_id}`);
  if (serviceUrl) info(io, `Service URL: ${serviceUrl}`);
  appendSummary(
    io,
    `### easyenclave deployment running\n\n| deployment | agent | service | URL |\n| --- | --- | --- | --- |\n` +
      `| \`${id}\` | \`${cell(d.agent_id)}\` | ${cell(serviceName)} | ${serviceUrl ? `<${serviceUrl}>` : ''} |\n`,
  );
}
