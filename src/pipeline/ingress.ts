import { createHash } from "node:crypto";
import type { MatrixInbound, XmppEvent, XmppEventOf } from "../core/model.js";
import type { Logger } from "../log.js";
import type { BridgeStore } from "../store/store.js";
import type { Dispatch } from "./dispatch.js";
import { HoldingQueue, type LaneInput } from "./holding-queue.js";
import { OutboxWorker, TransientError } from "./outbox.js";
import { isHeldLane, limitedMatrixSender, limitedXmppSender, type LimitedMatrixEvent, type SenderLimits } from "./sender-limits.js";

/** An event of an appservice transaction, as far as queueing it needs. */
export interface TransactionEvent {
  type: string;
  event_id?: string;
  room_id?: string;
}

export interface IngressDeps {
  store: BridgeStore;
  dispatch: Dispatch;
  /** The Matrix side's parser: the event, or undefined (and a log line) when it is malformed or none the bridge reads. */
  readMatrixEvent(raw: unknown): MatrixInbound | undefined;
  /**
   * Called before an entry bound for XMPP is handled: what resolves once the XMPP server has read
   * everything the handler wrote, and rejects when it may be lost (the stream answers nothing itself).
   */
  confirmXmppWrites(): () => Promise<void>;
  /** How long an XMPP message's dedup key is kept. */
  messageMapSeconds: number;
  /** Told of each entry's outcome, for the metrics. */
  observer?: DeliveryObserver;
  /** Told of each event dropped because it cannot be delivered, so its sender may learn why. */
  undeliverable?: Undeliverable;
  /** The per-sender rate limit in a room; none when absent. */
  limits?: SenderLimits;
  /** The bridge's own Matrix users (its bot, its ghosts), whose doings the rate limit leaves alone. */
  isOwnMatrixUser?: (userId: string) => boolean;
  /** Told of each sender whose messages the rate limit starts holding, so they learn it once per burst. */
  rateLimited?: RateLimitNotices;
  /** How much XMPP input may wait in memory while the store is away (defaults: HOLD_MAX_ITEMS, HOLD_MAX_BYTES). */
  holdMaxItems?: number;
  holdMaxBytes?: number;
  log: Logger;
}

export type Direction = "matrix_to_xmpp" | "xmpp_to_matrix";

export interface DeliveryObserver {
  delivered(direction: Direction, kind: string, seconds: number | undefined): void;
  failed(direction: Direction, kind: string, retried: boolean, reason: string): void;
  /** A message the rate limit held back behind the room's other senders. */
  rateLimited?(direction: Direction): void;
}

/** Where a sender is told that the rate limit holds their messages: they come late, in order; none is lost. */
export interface RateLimitNotices {
  fromXmpp(event: XmppEventOf<"message">): Promise<void>;
  fromMatrix(event: LimitedMatrixEvent): Promise<void>;
}

/** Where the events that cannot be delivered go, each with the failure: to be told to whoever sent them. */
export interface Undeliverable {
  fromXmpp(event: XmppEvent, err: unknown): Promise<void>;
  fromMatrix(event: MatrixInbound, err: unknown): Promise<void>;
}

/** How long the key that makes a held entry's copy unique is kept: longer than any crash between the copy and the removal. */
const HELD_COPY_SECONDS = 24 * 3600;

/** An XMPP entry: the event, and when it was queued. */
type XmppEntry = XmppEvent & { queuedAt?: number };

/** XMPP input held while the store is away: at most this many events... */
export const HOLD_MAX_ITEMS = 20_000;
/** ...and this many bytes of their JSON. */
export const HOLD_MAX_BYTES = 64 * 1024 * 1024;

/** An XMPP event on its way into its lane. */
interface XmppInput extends LaneInput {
  readonly payload: string;
}

/** Lanes: "matrix:<room id>" holds homeserver events bound for XMPP (presence, which has no room, "matrix:global"). */
const matrixLane = (roomId: string | undefined): string => `matrix:${roomId ?? "global"}`;
/** "xmpp:<conversation>" holds XMPP events bound for Matrix: one MUC, or one DM pair. */
const xmppLane = (conversation: string): string => `xmpp:${conversation}`;
const isMatrixLane = (lane: string): boolean => lane.startsWith("matrix:");

/** When an outbox entry's event happened (ms since the epoch): a Matrix event's origin_server_ts, an XMPP event's queueing. */
export function entryTime(lane: string, payload: string): number | undefined {
  try {
    const raw = JSON.parse(payload) as { origin_server_ts?: unknown; queuedAt?: unknown };
    const at = isMatrixLane(lane) ? raw.origin_server_ts : raw.queuedAt;
    return typeof at === "number" ? at : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What identifies a transaction: its ID and what it holds. Synapse on SQLite counts transaction IDs
 * from 1 again after a restart, so an ID alone would make new transactions look like repeats; a real
 * repeat carries the same events.
 */
function transactionKey(txnId: string, events: readonly TransactionEvent[]): string {
  const digest = createHash("sha256");
  for (const event of events) digest.update(event.event_id ?? JSON.stringify(event)).update("\n");
  return `${txnId}:${digest.digest("base64url").slice(0, 22)}`;
}

/**
 * Where both sides' input enters the pipeline: it is queued durably in its lane, once, and each lane
 * is drained in order into the dispatch table. Matrix entries are kept as the homeserver sent them and
 * parsed when drained (see docs/architecture.md); XMPP entries are the parsed `XmppEvent`.
 */
export class Ingress {
  private readonly outbox: OutboxWorker;
  /** XMPP input is not sent again: it waits here, in order, while the store is away. The homeserver resends instead. */
  private readonly fromXmpp: HoldingQueue<XmppInput>;
  /** The held lanes an earlier run left, read once before the rate limit first decides. */
  private heldRestored: Promise<void> | undefined;

  constructor(private readonly deps: IngressDeps) {
    this.outbox = new OutboxWorker({
      store: deps.store,
      handle: (lane, payload) => this.deliver(lane, payload),
      // What goes to XMPP is written to a stream without answers: a batch leaves its lane once the server has read it.
      deliveryCheck: (lane) => (isMatrixLane(lane) ? deps.confirmXmppWrites() : undefined),
      dropped: (lane, payload, err) => this.dropped(lane, payload, err),
      drained: (lane) => (isHeldLane(lane) ? deps.limits?.drained(lane) : undefined),
      log: deps.log,
    });
    this.fromXmpp = new HoldingQueue({
      store: (input) => this.storeForMatrix(input),
      maxItems: deps.holdMaxItems ?? HOLD_MAX_ITEMS,
      maxBytes: deps.holdMaxBytes ?? HOLD_MAX_BYTES,
      log: deps.log,
    });
    // Back from an outage: what waited goes on now, not after its retry delay, and every lane left
    // with entries (some stored by an attempt whose answer was lost) is drained.
    deps.store.onAvailable(() => {
      this.fromXmpp.retryNow();
      this.outbox.retryNow();
      this.outbox.wakePending().catch((err: unknown) => deps.log.debug({ err }, "could not list the lanes to resume"));
    });
  }

  /** Queues a transaction's events; a repeated transaction (even after a restart) is not queued again. */
  async acceptTransaction(txnId: string, events: readonly TransactionEvent[]): Promise<void> {
    const entries = events.map((event) => ({ lane: matrixLane(event.room_id), payload: JSON.stringify(event) }));
    if (!(await this.deps.store.acceptTransaction(transactionKey(txnId, events), entries))) {
      this.deps.log.debug({ txnId }, "transaction already accepted");
    }
    // Woken for a repeat too: the first time may have been stored although its answer was lost.
    for (const lane of new Set(entries.map((e) => e.lane))) this.outbox.wake(lane);
  }

  /**
   * Queues an XMPP event for Matrix; with a dedup key, only its first copy (a MUC sends one to each
   * puppet). Resolves once it is stored, or held in memory until the store is back; rejects with
   * InputRefusedError when too much is held already.
   */
  queueForMatrix(conversation: string, event: XmppEvent, dedupKey?: string): Promise<void> {
    const payload = JSON.stringify({ ...event, queuedAt: Date.now() } satisfies XmppEntry);
    return this.fromXmpp.offer({ lane: xmppLane(conversation), payload, bytes: payload.length, ...(dedupKey === undefined ? {} : { dedupKey }) });
  }

  private async storeForMatrix(input: XmppInput): Promise<void> {
    const entry = { lane: input.lane, payload: input.payload };
    if (input.dedupKey === undefined) await this.deps.store.appendToOutbox(entry);
    else await this.deps.store.appendToOutboxOnce(entry, input.dedupKey, this.deps.messageMapSeconds);
    // Woken for a repeat too: its first copy may have been stored by an attempt whose answer was lost.
    this.outbox.wake(entry.lane);
  }

  /** Drains what earlier runs (or another instance, or this one before a pause) left behind; the number of lanes. */
  resume(): Promise<number> {
    return this.outbox.resume();
  }

  /** On standby: stops draining the outboxes until resume(). What arrives is still queued. */
  pause(): Promise<void> {
    return this.outbox.pause();
  }

  /** Drains the lanes that hold entries this instance was not told of: another instance appended them. */
  async wakePending(): Promise<void> {
    await this.outbox.wakePending();
  }

  async stop(): Promise<void> {
    await this.fromXmpp.stop();
    this.deps.limits?.stop();
    await this.outbox.stop();
  }

  private async deliver(lane: string, payload: string): Promise<void> {
    if (isHeldLane(lane)) await this.deps.limits?.pace(lane);
    if (isMatrixLane(lane)) {
      const raw = JSON.parse(payload) as { origin_server_ts?: unknown };
      const event = this.deps.readMatrixEvent(raw);
      if (!event) return;
      const sentAt = typeof raw.origin_server_ts === "number" ? raw.origin_server_ts : undefined;
      const limited = limitedMatrixSender(event, this.deps.isOwnMatrixUser);
      if (limited && (await this.holdBack(lane, payload, "matrix_to_xmpp", { sender: limited.sender, at: sentAt }, () => this.deps.rateLimited?.fromMatrix(limited)))) return;
      await this.observed(lane, "matrix_to_xmpp", event.kind, "eventId" in event ? { eventId: event.eventId } : {}, sentAt, () => this.deps.dispatch.matrixEvent(event));
    } else {
      const { queuedAt, ...event } = JSON.parse(payload) as XmppEntry;
      const sender = limitedXmppSender(event as XmppEvent);
      if (sender !== undefined && (await this.holdBack(lane, payload, "xmpp_to_matrix", { sender, at: queuedAt }, () => this.deps.rateLimited?.fromXmpp(event as XmppEventOf<"message">)))) return;
      const ids = event.kind === "message" ? event.message.ids : {};
      await this.observed(lane, "xmpp_to_matrix", event.kind, ids, queuedAt, () => this.deps.dispatch.xmppEvent(event as XmppEvent));
    }
  }

  /**
   * The rate limit's say over a message at the head of its room's lane: true when it was moved to its
   * sender's held lane (copied there once, then removed from the room's lane like a delivered entry).
   * The sender is told (`tell`) when this starts holding them: once per burst, not per message. `at`:
   * when the message arrived (the homeserver's timestamp, or when the XMPP stanza was queued).
   */
  private async holdBack(lane: string, payload: string, direction: Direction, { sender, at }: { sender: string; at: number | undefined }, tell: () => Promise<void> | undefined): Promise<boolean> {
    const limits = this.deps.limits;
    if (!limits?.enabled || isHeldLane(lane)) return false;
    await (this.heldRestored ??= this.deps.store.pendingLanes().then(
      (lanes) => limits.restore(lanes),
      (err: unknown) => {
        this.heldRestored = undefined;
        throw new TransientError("cannot list the held lanes", { cause: err });
      },
    ));
    const admission = limits.admit(lane, sender, at ?? Date.now());
    if (!admission) return false;
    limits.moving(admission.heldLane);
    try {
      const copyKey = `held:${createHash("sha1").update(lane).update("\n").update(payload).digest("base64url")}`;
      await this.deps.store.appendToOutboxOnce({ lane: admission.heldLane, payload }, copyKey, HELD_COPY_SECONDS);
    } catch (err) {
      limits.moved(admission.heldLane);
      // Its next attempt starts the holding again, and tells the sender then.
      if (admission.startsHolding) limits.drained(admission.heldLane);
      // Never dropped: the entry stays at the head of its room's lane until its copy is safe.
      throw new TransientError("cannot move a message to its sender's held lane", { cause: err });
    }
    limits.moved(admission.heldLane);
    this.outbox.wake(admission.heldLane);
    this.deps.observer?.rateLimited?.(direction);
    this.deps.log.debug({ lane, sender, startsHolding: admission.startsHolding }, "message held by the rate limit");
    if (!admission.startsHolding || !limits.shouldTell(admission.heldLane)) return true;
    this.deps.log.info({ lane, sender }, "a sender is past the rate limit: their messages are held behind the room's others");
    // Told beside the deliveries, never holding them up.
    Promise.resolve()
      .then(tell)
      .catch((err: unknown) => this.deps.log.warn({ lane, sender, err }, "could not tell a sender that the rate limit holds their messages"));
    return true;
  }

  private async dropped(lane: string, payload: string, err: unknown): Promise<void> {
    const { undeliverable, readMatrixEvent } = this.deps;
    if (!undeliverable) return;
    if (isMatrixLane(lane)) {
      const event = readMatrixEvent(JSON.parse(payload));
      if (event) await undeliverable.fromMatrix(event, err);
    } else {
      const { queuedAt: _queuedAt, ...event } = JSON.parse(payload) as XmppEntry;
      await undeliverable.fromXmpp(event as XmppEvent, err);
    }
  }

  /** Runs one delivery, and says how it went: in the metrics, and for each message in the log. */
  private async observed(lane: string, direction: Direction, kind: string, ids: object, since: number | undefined, delivery: () => Promise<void>): Promise<void> {
    try {
      await delivery();
    } catch (err) {
      this.deps.observer?.failed(direction, kind, err instanceof TransientError, err instanceof Error ? err.name : "unknown");
      throw err;
    }
    const latencyMs = since === undefined ? undefined : Date.now() - since;
    this.deps.observer?.delivered(direction, kind, latencyMs === undefined ? undefined : latencyMs / 1000);
    if (kind === "message") this.deps.log.info({ lane, ...ids, latencyMs }, "message handled");
    else this.deps.log.debug({ lane, kind, ...ids, latencyMs }, "event handled");
  }
}
