/**
 * The lease that makes one of several bridge instances sharing a store the active one (docs/reliability.md,
 * "Active and standby"). Whoever takes it gets a fencing token, one more than any given before; once an
 * instance is fenced with its token, the store refuses its writes that matter (reading an outbox to deliver
 * from it, removals of delivered entries, message map entries) in each lane or conversation where an
 * instance with a newer token wrote since: each such write claims its lane for its token.
 */
export interface LeaseStore {
  /** Takes the lease for `ttlMs` unless someone holds it: the new fencing token, or undefined when it is held. */
  acquireLease(holder: string, ttlMs: number): Promise<number | undefined>;
  /** Extends the lease for `ttlMs` if `holder` still holds it under `token`; false when it has passed on or expired. */
  renewLease(holder: string, token: number, ttlMs: number): Promise<boolean>;
  /** Gives the lease up, if `holder` still holds it under `token`, so a standby need not wait for it to expire. */
  releaseLease(holder: string, token: number): Promise<void>;
  /** From now on the writes that matter carry `token`, and fail with FencedError where a newer one wrote. */
  fence(token: number): void;
  /** Told of each write refused for a newer token. */
  onFenced(listener: (err: FencedError) => void): void;
}

/** A write refused because an instance that took the lease after this one wrote in the same lane. */
export class FencedError extends Error {
  constructor(readonly token: number, what: string) {
    super(`${what} refused: fencing token ${token} is no longer the newest, another instance took the lease`);
    this.name = "FencedError";
  }
}
