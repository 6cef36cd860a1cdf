import type { Redis } from "ioredis";
import { FencedError } from "../lease.js";

/** How long a slot's claim is kept after it was last raised: far longer than any instance stays frozen. */
const CLAIM_TTL_SECONDS = 7 * 24 * 3600;

/**
 * The start of each script whose write only the active instance may make. KEYS[1] = the claim of the
 * slot it writes in, ARGV[1] = the writer's fencing token ("" when it runs without a lease). Returns -1,
 * writing nothing, when a newer token wrote in this slot; otherwise raises the claim to the writer's.
 * Per slot and not one global token, so that every key a script touches is in one hash slot.
 */
export const FENCE = `
if ARGV[1] ~= '' then
  local claim = tonumber(redis.call('GET', KEYS[1]) or '0')
  local token = tonumber(ARGV[1])
  if claim > token then return -1 end
  if claim < token then redis.call('SET', KEYS[1], ARGV[1], 'EX', ${CLAIM_TTL_SECONDS}) end
end`;

/** What a fenced script answers when its writer's token is no longer the newest in its slot. */
const FENCED = -1;

/** The fencing token this instance's writes that matter carry, and who is told when one is refused. */
export class Fencing {
  /** "" until this instance took the lease. */
  private token = "";
  private readonly listeners: ((err: FencedError) => void)[] = [];

  constructor(private readonly redis: Redis) {}

  get active(): boolean {
    return this.token !== "";
  }

  fence(token: number): void {
    this.token = String(token);
  }

  onFenced(listener: (err: FencedError) => void): void {
    this.listeners.push(listener);
  }

  /** Runs a script that starts with FENCE: `claim` and the token are put in front of `keys` and `args`. */
  async run(what: string, script: string, claim: string, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const token = this.token;
    const result = await this.redis.eval(script, keys.length + 1, claim, ...keys, token, ...args);
    if (result !== FENCED) return result;
    const err = new FencedError(Number(token), what);
    for (const listener of this.listeners) listener(err);
    throw err;
  }
}
