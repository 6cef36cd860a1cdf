import type { Redis } from "ioredis";
import type { RedisKeys } from "./keys.js";

/**
 * Takes the lease unless it is held: KEYS[1] = the lease, KEYS[2] = the newest fencing token (one slot);
 * ARGV[1] = the holder, ARGV[2] = its time to live (ms). The lease holds the holder and its token, so a
 * renewal proves both. Returns the new token, or 0 when the lease is held.
 */
const ACQUIRE_LEASE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. token, 'PX', ARGV[2])
return token`;

/** Extends the lease (ARGV[2] ms) if KEYS[1] still holds ARGV[1], the holder and its token: 1, else 0. */
const RENEW_LEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/** Deletes the lease if KEYS[1] still holds ARGV[1], the holder and its token. */
const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])`;

/** The lease that makes one instance active (docs/reliability.md, "Active and standby"). */
export class RedisLease {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  async acquireLease(holder: string, ttlMs: number): Promise<number | undefined> {
    const token = await this.redis.eval(ACQUIRE_LEASE, 2, this.keys.lease, this.keys.leaseToken, holder, String(Math.ceil(ttlMs)));
    return typeof token === "number" && token > 0 ? token : undefined;
  }

  async renewLease(holder: string, token: number, ttlMs: number): Promise<boolean> {
    return (await this.redis.eval(RENEW_LEASE, 1, this.keys.lease, `${holder} ${token}`, String(Math.ceil(ttlMs)))) === 1;
  }

  async releaseLease(holder: string, token: number): Promise<void> {
    await this.redis.eval(RELEASE_LEASE, 1, this.keys.lease, `${holder} ${token}`);
  }
}
