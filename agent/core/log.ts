/**
 * The agent's logger: one line per event, `<ISO time> [LEVEL] <message>` (v1's format, agent.md §1), to stderr by
 * default. Secrets registered with `redact()` (control secret, tunnel token, ITA key, bootstrap token) are replaced
 * by `[redacted]` in every line, so no code path can leak them through a log message or an error text.
 */
export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

export interface AgentLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
  /** Registers a secret value to be masked from now on (empty strings are ignored). */
  redact(secret: string | null | undefined): void;
  /** Masks the registered secrets in any text (error bodies, subprocess output). */
  mask(text: string): string;
}

export function createLogger(opts: { write?: (line: string) => void; debug?: boolean } = {}): AgentLogger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const secrets = new Set<string>();
  const mask = (text: string) => {
    let out = text;
    for (const s of secrets) out = out.split(s).join('[redacted]');
    return out;
  };
  const emit = (level: LogLevel, msg: string) => write(`${new Date().toISOString()} [${level}] ${mask(msg)}`);
  return {
    debug: (m) => {
      if (opts.debug) emit('DEBUG', m);
    },
    info: (m) => emit('INFO', m),
    warn: (m) => emit('WARN', m),
    error: (m) => emit('ERROR', m),
    redact(secret) {
      // Very short values would mask unrelated text; real secrets are long random tokens.
      if (secret && secret.length >= 8) secrets.add(secret);
    },
    mask,
  };
}

/** Error text of anything thrown (with undici's hidden cause, e.g. ECONNREFUSED). */
export function errorText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as { cause?: unknown }).cause;
  const code = cause instanceof Error ? ((cause as { code?: string }).code ?? cause.message) : undefined;
  return code ? `${err.message} (${code})` : err.message;
}
