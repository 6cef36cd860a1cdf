import { ComponentOfflineError } from "../xmpp/component-connection.js";
import { MucJoinError } from "../xmpp/muc-occupancy.js";
import { TransientError } from "./outbox.js";
import { asError } from "../core/errors.js";

const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);
/** remote-server-not-found too: a domain that does not resolve now may resolve later (Puppets gives up after a while). */
const PASSING_JOIN_CONDITIONS = new Set(["connection lost", "no answer from the MUC", "remote-server-timeout", "remote-server-not-found", "resource-constraint"]);

/** Whether a failure may pass by itself: a server away, the component connection down, a timeout, a rate limit. */
export function isPassing(err: unknown): boolean {
  if (err instanceof TransientError || err instanceof ComponentOfflineError) return true;
  if (err instanceof MucJoinError) return PASSING_JOIN_CONDITIONS.has(err.condition);
  const e = err as { statusCode?: number; code?: string; name?: string; cause?: unknown };
  if (typeof e.statusCode === "number") return e.statusCode >= 500 || e.statusCode === 429;
  if (typeof e.code === "string" && (NETWORK_CODES.has(e.code) || e.code.startsWith("UND_ERR"))) return true;
  if (e.name === "TimeoutError" || e.name === "AbortError") return true;
  return e.cause !== undefined && e.cause !== err && isPassing(e.cause);
}

/** Runs one delivery step, turning a passing failure into TransientError so its entry is retried. */
export async function deliver<T>(what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof TransientError) throw err;
    if (isPassing(err)) throw new TransientError(`${what}: ${asError(err).message}`, { cause: err });
    throw err;
  }
}
