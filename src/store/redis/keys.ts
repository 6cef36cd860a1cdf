/**
 * The names of the bridge's keys in Redis (docs/store.md). Whatever one script or `MULTI` touches shares
 * a hash tag, so that Redis Cluster finds it in one slot: a lane's keys are tagged with the lane
 * (`{<lane>}`), a conversation's message map with the conversation, the lease with `{lease}`.
 */
export class RedisKeys {
  constructor(private readonly prefix: string) {}

  /** A key outside any tag: each one alone in whatever slot it hashes to. */
  key(...parts: string[]): string {
    return this.prefix + parts.join(":");
  }

  /** The lane's outbox: its entries, oldest first. */
  outbox(lane: string): string {
    return this.key("outbox", `{${lane}}`);
  }

  /** How many appends to the lane are under way: while any is, the lane stays in the index. */
  appending(lane: string): string {
    return this.key("outbox", `{${lane}}`, "appending");
  }

  /** The index of lanes that may hold entries. */
  get lanes(): string {
    return this.key("outboxes");
  }

  /** Lanes being dropped from the index: listed until it is done, so that a crash meanwhile loses none. */
  get lanesBeingForgotten(): string {
    return this.key("outboxes", "forgetting");
  }

  /** A homeserver transaction accepted into the lane. */
  transaction(lane: string, txnId: string): string {
    return this.key("txn", `{${lane}}`, txnId);
  }

  /** An append to the lane already made under this once-key. */
  once(lane: string, onceKey: string): string {
    return this.key("once", `{${lane}}`, onceKey);
  }

  /**
   * The newest fencing token that wrote in the slot of `tag` (a lane, or a conversation's message map):
   * raised by each fenced write, which is refused when it is already higher.
   */
  claim(tag: string): string {
    return this.key("fence", `{${tag}}`);
  }

  /** The Matrix event of an XMPP id in a conversation. */
  xmppMessage(conversation: string, xmppId: string): string {
    return this.key("msg", "xmpp", `{${conversation}}`, xmppId);
  }

  /** The message map entry of a Matrix event. */
  matrixMessage(eventId: string): string {
    return this.key("msg", "mx", eventId);
  }

  /** Who holds the lease, and the newest fencing token given: one slot. */
  get lease(): string {
    return this.key("{lease}");
  }

  get leaseToken(): string {
    return this.key("{lease}", "token");
  }

  /** Which key layout the data is in: set once the migration to this one is done. */
  get layout(): string {
    return this.key("layout");
  }
}
