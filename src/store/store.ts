/**
 * Everything the bridge keeps lives behind this interface; src/store/redis-store.ts is the one
 * implementation. Key layout: docs/store.md.
 */

/** One piece of work waiting in an outbox: the payload is the JSON of a parsed event or stanza. */
export interface OutboxEntry {
  readonly lane: string;
  readonly payload: string;
}

export interface BridgeStore {
  /** Round trip to the store; rejects when it is away. */
  ping(): Promise<void>;
  isReady(): boolean;

  /**
   * Records a homeserver transaction and appends its entries to their outboxes, all at once.
   * Returns false, and appends nothing, when this transaction ID was accepted before.
   */
  acceptTransaction(txnId: string, entries: readonly OutboxEntry[]): Promise<boolean>;

  /** Appends one entry to the end of an outbox. */
  appendToOutbox(entry: OutboxEntry): Promise<void>;
  /** The oldest entry of an outbox, left in place until removeOutboxHead. */
  peekOutbox(lane: string): Promise<string | undefined>;
  removeOutboxHead(lane: string): Promise<void>;
  /** Lanes that hold entries: after a restart, these are drained first. */
  pendingLanes(): Promise<string[]>;

  /** Sets a key for ttlSeconds unless it exists; true when it was set (first time seen). */
  claimOnce(key: string, ttlSeconds: number): Promise<boolean>;

  close(): Promise<void>;
}
