/**
 * Structured logger with an in-memory ring of recent records, served by
 * GET /api/v1/logs/control-plane. One LogBuffer per process, created by bin/ and passed
 * in; never a module-level singleton.
 *
 * Each record also goes to a sink: human text lines by default, or pino JSON (`pinoSink`, LOG_FORMAT=json) with the
 * fields of the current context — `request_id` inside an API request (api/middleware/request-id.ts), `workflow_id`,
 * `run_id` and `activity` inside an activity (bin/lib/worker.ts) — and secrets redacted by path (REDACT_PATHS).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import pino, { type DestinationStream } from 'pino';
export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogRecord {
  timestamp: string;
  level: LogLevel;
  logger: string;
  message: string;
}

/** Rank of a level name; unknown names rank as INFO (v1 behaviour). */
export function levelRank(level: string): number {
  const l = level.trim().toUpperCase();
  const normalized = l === 'WARN' ? 'WARNING' : l === 'FATAL' ? 'CRITICAL' : l;
  const i = LOG_LEVELS.indexOf(normalized as LogLevel);
  return i < 0 ? LOG_LEVELS.indexOf('INFO') : i;
}

export type LogFields = Record<string, unknown>;
type Sink = (line: string, record: LogRecord, fields: LogFields) => void;

export class LogBuffer {
  private readonly ring: LogRecord[] = [];
  /** Fields every record logged inside `withContext` carries (request id, workflow id…). */
  private readonly context = new AsyncLocalStorage<LogFields>();
  constructor(
    readonly capacity = 2000,
    readonly sink: Sink = (line) => process.stderr.write(`${line}\n`),
    readonly printLevel: LogLevel = 'INFO',
  ) {}

  push(record: LogRecord, fields: LogFields = {}): void {
    this.ring.push(record);
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
    if (levelRank(record.level) >= levelRank(this.printLevel)) {
      const all = { ...this.context.getStore(), ...fields };
      this.sink(`${record.timestamp} ${record.level.padEnd(7)} [${record.logger}] ${record.message}`, record, all);
    }
  }

  /** Runs `fn` with `fields` added to every record it logs (nested contexts merge). */
  withContext<T>(fields: LogFields, fn: () => T): T {
    return this.context.run({ ...this.context.getStore(), ...fields }, fn);
  }

  /** Records at or above `minLevel`, oldest first. */
  records(minLevel = 'DEBUG'): LogRecord[] {
    const rank = levelRank(minLevel);
    return this.ring.filter((r) => levelRank(r.level) >= rank);
  }
}

export class Logger {
  constructor(
    readonly buffer: LogBuffer = new LogBuffer(),
    private readonly name = 'easyenclave',
  ) {}

  /** A logger with another name that writes into the same buffer. */
  child(name: string): Logger {
    return new Logger(this.buffer, name);
  }

  debug(message: string, fields?: LogFields): void {
    this.log('DEBUG', message, fields);
  }
  info(message: string, fields?: LogFields): void {
    this.log('INFO', message, fields);
  }
  warn(message: string, fields?: LogFields): void {
    this.log('WARNING', message, fields);
  }
  error(message: string, fields?: LogFields): void {
    this.log('ERROR', message, fields);
  }

  /** `fields` reach the JSON sink (redacted by path), never the in-memory buffer the API serves. */
  log(level: LogLevel, message: string, fields?: LogFields): void {
    this.buffer.push({ timestamp: new Date().toISOString(), level, logger: this.name, message }, fields);
  }
}

/** A logger that keeps records but prints nothing (tests). */
export function silentLogger(): Logger {
  return new Logger(new LogBuffer(2000, () => {}));
}

/** Field paths pino replaces with "[REDACTED]" wherever a caller logs them (top level and one level down). */
export const REDACT_PATHS = [
  'password',
  'token',
  'secret',
  'api_key',
  'agent_api_secret',
  'tunnel_token',
  'intel_ta_token',
  'authorization',
  'cookie',
  'bootstrap_token',
  'github_session_token',
].flatMap((k) => [k, `*.${k}`]);

const PINO_LEVEL: Record<LogLevel, 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  DEBUG: 'debug',
  INFO: 'info',
  WARNING: 'warn',
  ERROR: 'error',
  CRITICAL: 'fatal',
};

/** A sink writing one pino JSON object a line (stderr unless told), with REDACT_PATHS applied. */
export function pinoSink(destination?: DestinationStream, base: LogFields = {}): Sink {
  const p = pino(
    {
      level: 'debug',
      base,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ fd: 2, sync: false }),
  );
  return (_line, record, fields) => {
    p[PINO_LEVEL[record.level]]({ logger: record.logger, ...fields }, record.message);
  };
}
