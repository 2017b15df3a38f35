/**
 * Remembers recently verified bearer tokens under a SHA-256 digest so a request does not
 * pay a full argon2 verification every time. It only skips the hash check: callers still
 * load the row by id, so revocation (logout, rotate, delete) takes effect at once on
 * every replica. Instances live in the app's deps, never at module level.
 */
import { createHash } from 'node:crypto';

interface Entry {
  id: string;
  until: number;
}

export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly ttlMs = 60_000,
    private readonly maxEntries = 10_000,
  ) {}

  private static digest(token: string): string {
    return createHash('sha256').update(token).digest('base64url');
  }

  get(token: string, nowMs: number): string | undefined {
    const key = VerifiedTokenCache.digest(token);
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.until <= nowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e.id;
  }

  set(token: string, id: string, nowMs: number): void {
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    this.entries.set(VerifiedTokenCache.digest(token), { id, until: nowMs + this.ttlMs });
  }

  /** Drop every cached token that maps to `id` (rotate/delete/logout). */
  forgetId(id: string): void {
    for (const [k, e] of this.entries) if (e.id === id) this.entries.delete(k);
  }
}
