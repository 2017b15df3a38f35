/**
 * Structured logger with an in-memory ring of recent records, served by
 * GET /api/v1/logs/control-plane. One LogBuffer per process, created by bin/ and passed
 * in; never a module-level singleton.
 */
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

type Sink = (line: string, record: LogRecord) => void;

export class LogBuffer {
  private readonly ring: LogRecord[] = [];
  constructor(
    readonly capacity = 2000,
    readonly sink: Sink = (line) => process.stderr.write(`${line}\n`),
    readonly printLevel: LogLevel = 'INFO',
  ) {}

  push(record: LogRecord): void {
    this.ring.push(record);
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
    if (levelRank(record.level) >= levelRank(this.printLevel)) {
      this.sink(`${record.timestamp} ${record.level.padEnd(7)} [${record.logger}] ${record.message}`, record);
    }
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

  debug(message: string): void {
    this.log('DEBUG', message);
  }
  info(message: string): void {
    this.log('INFO', message);
  }
  warn(message: string): void {
    this.log('WARNING', message);
  }
  error(message: string): void {
    this.log('ERROR', message);
  }

  log(level: LogLevel, message: string): void {
    this.buffer.push({ timestamp: new Date().toISOString(), level, logger: this.name, message });
  }
}

/** A logger that keeps records but prints nothing (tests). */
export function silentLogger(): Logger {
  return new Logger(new LogBuffer(2000, () => {}));
}
