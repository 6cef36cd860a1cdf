import type { Element } from "@xmpp/xml";
import { isGhost, type AddressingConfig } from "../core/identity.js";
import type { Logger } from "../log.js";
import type { BridgeStore } from "../store/store.js";
import { ComponentOfflineError } from "./component-connection.js";
import type { MucArchive } from "./muc-archive.js";
import type { JoinHistory } from "./stanzas.js";
import { NS } from "./namespaces.js";
import { splitJid } from "./stanzas.js";

/** A margin for clocks that differ between the bridge and the MUC; repeats are dropped by their ids. */
const HISTORY_MARGIN_MS = 60_000;

/** What takes in what the component connection receives (XmppInbound). */
export interface StanzaHandler {
  handle(stanza: Element): Promise<void>;
}

export interface MucHistoryDeps {
  store: BridgeStore;
  archive: Pick<MucArchive, "supported" | "read">;
  /** Where every stanza goes, the archive's messages as much as live ones. */
  inbound: StanzaHandler;
  addressing: AddressingConfig;
  /** How many of a MUC's last messages a room new to the bridge starts with (0: none). */
  backfillMessages: number;
  log: Logger;
}

/**
 * What a MUC said while no puppet of the bridge was there to hear it, brought to Matrix as its first
 * puppet enters, before anything the room says live: after the last message that reached Matrix (or,
 * for a room nothing ever came from, its last `backfillMessages`). Read from the room's archive
 * (XEP-0313) after its stanza-id where the room keeps one; otherwise asked for on entering with
 * `<history>`, which a room may cut short. Either way the messages go the way live ones go, with the
 * same dedup keys, so nothing is posted twice.
 *
 * A room may go on sending to a puppet it still counts as in while the bridge was away (ejabberd does,
 * after a bridge died): such a live message must not overtake what its archive holds from before it.
 * So from the connection's loss until the rooms to rejoin are known, every room's messages wait; then
 * those rooms' messages wait for their entering, and the others go on.
 */
export class MucHistory implements StanzaHandler {
  /** MUCs whose history is being read or is still to be read: their live messages wait here, in order, until it is in. */
  private readonly held = new Map<string, Element[]>();
  /** Until the rooms to rejoin are known, any room's messages: one may be of a room still to be entered. */
  private waitingForRooms: Element[] | undefined;
  /** Whether this instance holds the component connection and so rejoins the rooms (not on standby). */
  private rejoining = false;

  constructor(private readonly deps: MucHistoryDeps) {}

  /** What the component connection receives: a live message of a MUC whose history is being read waits for it. */
  handle(stanza: Element): Promise<void> {
    const from = stanza.attrs.from;
    if (!stanza.is("message") || stanza.attrs.type !== "groupchat" || !from) return this.deps.inbound.handle(stanza);
    const held = this.waitingForRooms ?? this.held.get(splitJid(from).bare);
    if (!held) return this.deps.inbound.handle(stanza);
    held.push(stanza);
    return Promise.resolve();
  }

  /** This instance takes the connection up: every room's messages wait until the rooms to rejoin are known. */
  holdUntilRejoined(): void {
    this.rejoining = true;
    this.waitingForRooms ??= [];
  }

  /** The connection is down: once it is back, the same (see holdUntilRejoined), unless this instance went on standby. */
  holdEveryRoom(): void {
    if (this.rejoining) this.waitingForRooms ??= [];
  }

  /**
   * On standby: nothing rejoins here, so what waits goes on (the ingress stores it for the active instance),
   * and so does whatever the closing connection still brings.
   */
  async stopHolding(): Promise<void> {
    this.rejoining = false;
    const waiting = this.waitingForRooms ?? [];
    this.waitingForRooms = undefined;
    await Promise.all([...this.held.keys()].map((muc) => this.release(muc)));
    for (const stanza of waiting) {
      await this.handle(stanza).catch((err: unknown) => this.deps.log.error({ err }, "could not take in a message held while the rooms to rejoin were read"));
    }
  }

  /**
   * The rooms to rejoin are known: their messages wait until each is entered (see `enter`, or `release` for
   * one that is not), and what the other rooms said meanwhile goes on, in order.
   */
  holdOnly(mucs: Iterable<string>): void {
    const waiting = this.waitingForRooms ?? [];
    this.waitingForRooms = undefined;
    for (const muc of mucs) if (!this.held.has(muc)) this.held.set(muc, []);
    for (const stanza of waiting) {
      this.handle(stanza).catch((err: unknown) => this.deps.log.error({ err }, "could not take in a message held while the rooms to rejoin were read"));
    }
  }

  /**
   * The first puppet enters the MUC: `join` sends it in with what history to ask for and resolves
   * with its nick once the room took it. Resolves once the history is queued for Matrix.
   */
  async enter(muc: string, puppet: string, join: (history: JoinHistory) => Promise<string>): Promise<string> {
    const { store, backfillMessages } = this.deps;
    try {
      const [lastId, until] = await Promise.all([store.mucLastStanzaId(muc), store.mucDeliveredUntil(muc)]);
      const since = until === undefined ? undefined : until - HISTORY_MARGIN_MS;
      const fresh = lastId === undefined && since === undefined;
      if (fresh && backfillMessages === 0) return await this.releasedThen(muc, () => join({ maxstanzas: 0 }));
      // The room sends the history it has after the puppet's presence: what waited goes first, as before.
      if (!(await this.deps.archive.supported(muc))) return await this.releasedThen(muc, () => join(since !== undefined ? { since } : { maxstanzas: backfillMessages }));
      if (!this.held.has(muc)) this.held.set(muc, []);
      const nick = await join({ maxstanzas: 0 });
      const messages = await this.readArchive(muc, puppet, lastId, since);
      let brought = 0;
      for (const message of messages) {
        if (await this.delivered(muc, message)) continue;
        await this.deps.inbound.handle(message).then(
          () => brought++,
          (err: unknown) => this.deps.log.error({ muc, err }, "could not take in a message read from the MUC's archive"),
        );
      }
      this.deps.log.info({ muc, read: messages.length, brought, after: lastId, since }, fresh ? "MUC's last messages read from its archive" : "MUC caught up from its archive");
      return nick;
    } finally {
      await this.release(muc);
    }
  }

  private async releasedThen<T>(muc: string, next: () => Promise<T>): Promise<T> {
    await this.release(muc);
    return next();
  }

  private async readArchive(muc: string, puppet: string, lastId: string | undefined, since: number | undefined): Promise<Element[]> {
    const { archive, backfillMessages, log } = this.deps;
    try {
      if (lastId !== undefined) return await archive.read(muc, puppet, { afterId: lastId });
      return await archive.read(muc, puppet, since !== undefined ? { start: since } : { last: backfillMessages });
    } catch (err) {
      // The last message may have left the archive since: what came since its time is the next best.
      if (lastId !== undefined && since !== undefined && !(err instanceof ComponentOfflineError)) {
        log.info({ muc, lastId, err }, "the archive does not know the last message delivered; reading it by time");
        return archive.read(muc, puppet, { start: since }).catch((e: unknown) => this.unreadable(muc, e));
      }
      return this.unreadable(muc, err);
    }
  }

  private unreadable(muc: string, err: unknown): Element[] {
    // The connection went down: the puppets go back in, and the first one reads the archive again, once it is up.
    if (err instanceof ComponentOfflineError) throw err;
    this.deps.log.warn({ muc, err }, "could not read the MUC's archive: what it said meanwhile does not reach Matrix");
    return [];
  }

  /**
   * Whether an archived message is on Matrix already: its stanza-id is known, or it is a Matrix user's
   * own (their puppet's nick may have changed since, so the nick cannot tell).
   */
  private async delivered(muc: string, message: Element): Promise<boolean> {
    const stanzaId = message.getChildren("stanza-id", NS.stanzaId).find((s) => s.attrs.by === muc)?.attrs.id;
    if (stanzaId && (await this.deps.store.eventIdForXmppId(muc, stanzaId))) return true;
    const originId = message.getChild("origin-id", NS.stanzaId)?.attrs.id;
    const eventId = originId ? await this.deps.store.eventIdForXmppId(muc, originId) : undefined;
    const entry = eventId ? await this.deps.store.messageByEventId(eventId) : undefined;
    return entry?.sender !== undefined && !isGhost(entry.sender, this.deps.addressing);
  }

  /** What the room said meanwhile goes on, in order; live messages wait until all of it has. Nothing to do for a room not held. */
  async release(muc: string): Promise<void> {
    const held = this.held.get(muc) ?? [];
    while (held.length > 0) {
      const stanza = held.shift()!;
      await this.deps.inbound.handle(stanza).catch((err: unknown) => this.deps.log.error({ muc, err }, "could not take in a message held while the MUC's history was read"));
    }
    this.held.delete(muc);
  }
}
