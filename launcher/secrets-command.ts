/**
 * `ee secrets encrypt` (issue #17): seal a dotenv file to one attested agent for one deployment. Verifies the
 * agent's key binding itself (ITA signature against the ITA JWKS, MRTD trusted, REPORTDATA 32..64 = SHA-256 of the
 * key) and prints `{deployment_id, agent_id, encrypted_env, verified}` on stdout: send the first three with
 * `POST /api/v1/deploy` (or give the file to the deploy Action's `encrypted-env-file`).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { encryptEnvForAgent, SecretsClientError } from '../clients/secrets/encrypt-env';
import { parseDotenv } from '../core/secrets/hpke-env';
import { EXIT, LauncherError, usageError } from './core/errors';

export interface SecretsIo {
  stdout: (s: string) => void;
  env: Record<string, string | undefined>;
}

const list = (v: string | undefined) =>
  (v ?? '')
    .split(/[,\s]+/)
    .map((s) => s.trim())
    .filter(Boolean);

/** cli.ts's wrapper: maps a thrown LauncherError to its exit code and message. */
type Action = <A extends unknown[]>(fn: (...args: A) => Promise<number | void>) => (...args: A) => Promise<void>;
type Opts = Record<string, string | string[] | undefined>;

export function secretsCommand(program: Command, io: SecretsIo, action: Action): void {
  const secrets = program.command('secrets').description('tenant secrets encrypted to an attested agent');
  secrets
    .command('encrypt')
    .description('encrypt an env file to an agent’s attested HPKE key for one deployment; prints the deploy fields')
    .requiredOption('--agent <id>', 'agent to encrypt to (from a dry run: selected_agent_id)')
    .requiredOption('--env-file <path>', 'dotenv file (NAME=value lines) to encrypt')
    .option('--deployment-id <uuid>', 'deployment id to bind (default: a fresh UUID; send it with the deploy)')
    .option('--cp-url <url>', 'control plane (env CP_URL)')
    .option('--ita-jwks-url <url>', 'Intel Trust Authority JWKS (env ITA_JWKS_URL; default Intel’s)')
    .option('--ita-issuer <iss>', 'expected ITA issuer (env ITA_ISSUER; default Intel’s)')
    .option('--trusted-mrtd <hex...>', 'pin the trusted MRTDs (env EE_TRUSTED_MRTDS); default: the CP’s list')
    .option('--max-age <seconds>', 'refuse attestation evidence older than this')
    .option('--json', 'JSON on stdout (always the case for this command)')
    .action(
      action(async (o: Opts) => {
        const e = io.env;
        const cpUrl = String(o.cpUrl ?? e.CP_URL ?? '').trim();
        if (!/^https?:\/\/\S+$/.test(cpUrl)) throw usageError('secrets encrypt needs --cp-url http(s)://… (or CP_URL)');
        let text: string;
        try {
          text = readFileSync(String(o.envFile), 'utf8');
        } catch (err) {
          throw usageError(`cannot read --env-file ${String(o.envFile)}: ${(err as Error).message}`);
        }
        let env: Record<string, string>;
        try {
          env = parseDotenv(text);
        } catch (err) {
          throw usageError(`--env-file ${String(o.envFile)}: ${(err as Error).message}`);
        }
        const pinned = [...(Array.isArray(o.trustedMrtd) ? o.trustedMrtd : []), ...list(e.EE_TRUSTED_MRTDS)];
        const maxAge = o.maxAge === undefined ? undefined : Number(o.maxAge);
        if (maxAge !== undefined && !(Number.isFinite(maxAge) && maxAge > 0))
          throw usageError('--max-age must be a positive number of seconds');
        try {
          const r = await encryptEnvForAgent({
            cpUrl,
            agentId: String(o.agent),
            env,
            deploymentId: o.deploymentId as string | undefined,
            itaJwksUrl: (o.itaJwksUrl as string | undefined) ?? e.ITA_JWKS_URL,
            itaIssuer: (o.itaIssuer as string | undefined) ?? e.ITA_ISSUER,
            trustedMrtds: pinned.length > 0 ? pinned : undefined,
            maxAgeSeconds: maxAge,
          });
          io.stdout(JSON.stringify(r, null, 2) + '\n');
          return EXIT.ok;
        } catch (err) {
          if (err instanceof SecretsClientError) {
            throw new LauncherError(err.message, err.code === 'bad_input' ? EXIT.usage : EXIT.failed);
          }
          throw err;
        }
      }),
    );
}
