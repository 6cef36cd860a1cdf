import type { Element } from "@xmpp/xml";
import type { OccupantPresence } from "../core/model.js";
import type { Logger } from "../log.js";
import type { BridgeStore } from "../store/store.js";
import type { ComponentConnection } from "./component-connection.js";
import { errorCondition, parseOccupantPresence, renderJoin, renderLeave, splitJid, type JoinHistory } from "./stanzas.js";
import { puppetNick } from "../core/nick.js";
import { asError } from "../core/errors.js";
import { matrixLocalpart } from "../core/identity.js";

/** A puppet could not enter a MUC (banned, members-only, no such room...). */
export class MucJoinError extends Error {
  constructor(readonly muc: string, readonly nick: string, readonly condition: string) {
    super(`could not join ${muc} as "${nick}": ${condition}`);
    this.name = "MucJoinError";
  }
}

const JOIN_TIMEOUT_MS = 15_000;
const NICK_ATTEMPTS = 5;

interface PendingJoin {
  nick: string;
  resolve(nick: string): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** How an occupant's presence changed the room as the bridge sees it; "avatar": it announced another one. */
export type OccupantChange = "joined" | "left" | "renamed" | "avatar" | undefined;

export interface MucOccupancyDeps {
  connection: ComponentConnection;
  store: BridgeStore;
  puppetAddress: (matrixUser: string) => string;
  /** The hash of the Matrix user's avatar for XEP-0153 ("" for none), undefined when unknown. */
  avatarHashOf: (matrixUser: string) => Promise<string | undefined>;
  /**
   * How the first puppet enters a room (muc-history.ts): `join` sends it in asking for the history given;
   * what the room said while no puppet was there reaches Matrix before what it says next. Without it,
   * puppets ask for no history.
   */
  history?: RoomHistory;
  log: Logger;
}

/** What muc-history.ts does for the first puppet entering a room, and for the rooms' live messages meanwhile. */
export interface RoomHistory {
  enter(muc: string, puppet: string, join: (history: JoinHistory) => Promise<string>): Promise<string>;
  /** The connection is down: when it is back, every room's messages wait until the rooms to rejoin are known. */
  holdEveryRoom(): void;
  /** These rooms' messages wait until each is entered; the others' go on. */
  holdOnly(mucs: Iterable<string>): void;
  /** A held room's messages go on (for one whose entering never came). */
  release(muc: string): Promise<void>;
}

/**
 * Puppets' membership of MUCs: joining (with a distinct nick when one is taken), leaving, rejoining
 * after the connection or the bridge restarts, and the room's other occupants as the puppets see them.
 * Every puppet in a room receives the same presence, so the roster is what makes each change count once.
 */
export class MucOccupancy {
  /** muc -> matrix user -> nick, for puppets that are in. */
  private readonly joined = new Map<string, Map<string, string>>();
  /** `${muc}\n${puppet full JID}` -> join in flight. */
  private readonly pending = new Map<string, PendingJoin>();
  /** muc -> nick -> occupant, for everyone else in rooms the bridge is in. */
  private readonly rosters = new Map<string, Map<string, OccupantPresence>>();
  /** muc -> the first puppet's entering, with the room's history: the others go in after it. */
  private readonly entering = new Map<string, Promise<string>>();

  constructor(private readonly deps: MucOccupancyDeps) {}

  nickOf(muc: string, matrixUser: string): string | undefined {
    return this.joined.get(muc)?.get(matrixUser);
  }

  /** The puppets in a MUC: Matrix user and nick. */
  puppetsIn(muc: string): { matrixUser: string; nick: string }[] {
    return [...(this.joined.get(muc) ?? [])].map(([matrixUser, nick]) => ({ matrixUser, nick }));
  }

  isPuppetNick(muc: string, nick: string): boolean {
    for (const n of this.joined.get(muc)?.values() ?? []) if (n === nick) return true;
    for (const [key, p] of this.pending) if (key.startsWith(`${muc}\n`) && p.nick === nick) return true;
    return false;
  }

  occupant(muc: string, nick: string): OccupantPresence | undefined {
    return this.rosters.get(muc)?.get(nick);
  }

  occupants(muc: string): OccupantPresence[] {
    return [...(this.rosters.get(muc)?.values() ?? [])];
  }

  /**
   * Whether the puppet at this full JID is the one that takes in what the room says to everyone (a
   * configuration change): every puppet hears it, one is enough.
   */
  isListener(muc: string, puppet: string): boolean {
    const first = this.joined.get(muc)?.keys().next().value;
    return first !== undefined && this.deps.puppetAddress(first) === puppet;
  }

  /**
   * Puts the Matrix user's puppet in the MUC; resolves with the nick it holds there: the wanted one
   * made valid (see puppetNick), with a suffix while it is taken.
   */
  async join(muc: string, matrixUser: string, wantedNick: string): Promise<string> {
    const current = this.nickOf(muc, matrixUser);
    if (current !== undefined) return current;
    const entering = this.entering.get(muc);
    if (entering) {
      await entering.catch(() => undefined);
      return this.join(muc, matrixUser, wantedNick);
    }
    const { history } = this.deps;
    if (!history || (this.joined.get(muc)?.size ?? 0) > 0) return this.enter(muc, matrixUser, wantedNick, { maxstanzas: 0 });
    const first = history.enter(muc, this.deps.puppetAddress(matrixUser), (wanted) => this.enter(muc, matrixUser, wantedNick, wanted));
    this.entering.set(muc, first);
    try {
      return await first;
    } finally {
      this.entering.delete(muc);
    }
  }

  private async enter(muc: string, matrixUser: string, wantedNick: string, history: JoinHistory): Promise<string> {
    const from = this.deps.puppetAddress(matrixUser);
    const avatarHash = await this.avatarHash(matrixUser);
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < NICK_ATTEMPTS; attempt++) {
      const suffix = attempt === 0 ? "" : ` (${attempt === 1 ? "Matrix" : `Matrix ${attempt}`})`;
      const nick = puppetNick(wantedNick + suffix, matrixLocalpart(matrixUser) + suffix);
      try {
        const got = await this.attemptJoin(muc, from, nick, history, avatarHash);
        let members = this.joined.get(muc);
        if (!members) this.joined.set(muc, (members = new Map()));
        members.set(matrixUser, got);
        await this.deps.store.setPuppetOccupancy(muc, matrixUser, got);
        this.deps.log.info({ muc, matrixUser, nick: got }, "puppet joined MUC");
        return got;
      } catch (err) {
        lastError = asError(err);
        if (!(err instanceof MucJoinError && err.condition === "conflict")) throw err;
        this.deps.log.info({ muc, nick }, "nick taken; trying another");
      }
    }
    throw lastError ?? new MucJoinError(muc, wantedNick, "conflict");
  }

  /**
   * Asks the MUC for a new nick (XEP-0045 §7.6). The room answers with status 303, which
   * handlePresence applies; a refused change (nick taken) leaves the old nick in place.
   */
  async changeNick(muc: string, matrixUser: string, displayName: string): Promise<void> {
    const current = this.nickOf(muc, matrixUser);
    const nick = puppetNick(displayName, matrixLocalpart(matrixUser));
    if (current === undefined || current === nick) return;
    await this.deps.connection.send(renderJoin(this.deps.puppetAddress(matrixUser), muc, nick, false, await this.avatarHash(matrixUser)));
    this.deps.log.info({ muc, matrixUser, from: current, to: nick }, "puppet changing nick");
  }

  /** The Matrix user's avatar changed: their puppet says so in every MUC it is in (XEP-0153). */
  async refreshPresence(matrixUser: string): Promise<void> {
    const rooms = [...this.joined].flatMap(([muc, members]) => (members.has(matrixUser) ? [{ muc, nick: members.get(matrixUser)! }] : []));
    if (rooms.length === 0 || !this.deps.connection.isOnline()) return;
    const avatarHash = await this.avatarHash(matrixUser);
    for (const { muc, nick } of rooms) await this.deps.connection.send(renderJoin(this.deps.puppetAddress(matrixUser), muc, nick, false, avatarHash));
    this.deps.log.info({ matrixUser, rooms: rooms.length, avatarHash }, "puppet presence updated for a new avatar");
  }

  /** Never fails: a puppet without a known avatar still joins, only without the hash. */
  private async avatarHash(matrixUser: string): Promise<string | undefined> {
    try {
      return await this.deps.avatarHashOf(matrixUser);
    } catch (err) {
      this.deps.log.warn({ matrixUser, err }, "avatar hash unknown");
      return undefined;
    }
  }

  async leave(muc: string, matrixUser: string, status?: string): Promise<void> {
    const nick = this.nickOf(muc, matrixUser);
    this.forget(muc, matrixUser);
    await this.deps.store.setPuppetOccupancy(muc, matrixUser, undefined);
    if (nick !== undefined && this.deps.connection.isOnline()) await this.deps.connection.send(renderLeave(this.deps.puppetAddress(matrixUser), muc, nick, status));
  }

  /** The MUC is gone (destroyed): no puppet is in it, nor goes back in after a restart. */
  async forgetRoom(muc: string): Promise<void> {
    const recorded = (await this.deps.store.puppetOccupancy()).filter((o) => o.muc === muc).map((o) => o.matrixUser);
    for (const matrixUser of new Set([...(this.joined.get(muc)?.keys() ?? []), ...recorded])) {
      this.forget(muc, matrixUser);
      await this.deps.store.setPuppetOccupancy(muc, matrixUser, undefined);
    }
    this.rosters.delete(muc);
  }

  /** Every puppet leaves the MUC (the room was unlinked). */
  async leaveRoom(muc: string, status: string): Promise<void> {
    const members = [...(this.joined.get(muc)?.keys() ?? [])];
    const recorded = (await this.deps.store.puppetOccupancy()).filter((o) => o.muc === muc).map((o) => o.matrixUser);
    for (const matrixUser of new Set([...members, ...recorded])) await this.leave(muc, matrixUser, status);
  }

  /**
   * Handles presence addressed to a puppet. Returns the occupant and how it changed the room, for
   * presence of others; undefined when the stanza was the puppet's own business (or nothing new).
   */
  handlePresence(stanza: Element): { presence: OccupantPresence; change: OccupantChange; puppetOf?: string } | undefined {
    const from = stanza.attrs.from ? splitJid(stanza.attrs.from) : undefined;
    const to = stanza.attrs.to;
    if (!from?.resource || !to) return undefined;
    const pendingKey = `${from.bare}\n${to}`;
    const pending = this.pending.get(pendingKey);

    if (stanza.attrs.type === "error") {
      if (pending && pending.nick === from.resource) {
        this.settle(pendingKey);
        pending.reject(new MucJoinError(from.bare, from.resource, errorCondition(stanza) ?? "unknown error"));
      } else {
        this.deps.log.warn({ from: stanza.attrs.from, to, condition: errorCondition(stanza) }, "presence error from a MUC");
      }
      return undefined;
    }
    const presence = parseOccupantPresence(stanza);
    if (!presence) return undefined;

    if (presence.self) {
      if (pending && presence.available) {
        this.settle(pendingKey);
        pending.resolve(presence.nick);
      } else if (!presence.available) {
        const removed = this.onPuppetRemoved(presence, to);
        // A moderator's removal is news for Matrix; the puppet's own leaving is not.
        if (removed && presence.removedBy) return { presence, change: "left", puppetOf: removed };
      }
      return undefined;
    }
    if (this.isPuppetNick(presence.muc, presence.nick)) return undefined;
    const occupant = this.withKnownIdentity(presence);
    return { presence: occupant, change: this.updateRoster(occupant) };
  }

  /**
   * An occupant stays who the bridge first took them for while they are in the room: a puppet made
   * moderator starts seeing real JIDs (and may stop again), which must not turn the occupant into
   * another ghost half-way, whose leaving would then find no one to remove.
   */
  private withKnownIdentity(presence: OccupantPresence): OccupantPresence {
    const known = this.rosters.get(presence.muc)?.get(presence.nick);
    if (!known || (known.occupantKey === presence.occupantKey && known.realJid === presence.realJid)) return presence;
    const { realJid: _seenNow, ...rest } = presence;
    return { ...rest, occupantKey: known.occupantKey, ...(known.realJid ? { realJid: known.realJid } : {}) };
  }

  /**
   * After the connection came back or the bridge restarted: every puppet that was in goes back in. The first
   * puppet of each room brings what the room said meanwhile (see MucOccupancyDeps.history).
   */
  async rejoinAll(): Promise<void> {
    this.joined.clear();
    this.rosters.clear();
    const { history } = this.deps;
    let occupancy: Awaited<ReturnType<BridgeStore["puppetOccupancy"]>> = [];
    try {
      occupancy = await this.deps.store.puppetOccupancy();
    } finally {
      // A room some puppet entered meanwhile (a Matrix user wrote) brought its history already.
      history?.holdOnly(new Set(occupancy.map(({ muc }) => muc).filter((muc) => !this.joined.has(muc))));
    }
    for (const { muc, matrixUser, nick } of occupancy) {
      try {
        await this.join(muc, matrixUser, nick);
      } catch (err) {
        this.deps.log.warn({ muc, matrixUser, err }, "puppet could not rejoin its MUC");
      }
    }
    // Every room's entering released its messages, or is still under way and will; this is for any other.
    for (const { muc } of occupancy) if (!this.entering.has(muc)) await history?.release(muc);
  }

  /** On shutdown: puppets leave, but stay recorded so that the next start brings them back. */
  async leaveAllForShutdown(): Promise<void> {
    const leaves: Promise<void>[] = [];
    for (const [muc, members] of this.joined) {
      for (const [matrixUser, nick] of members) leaves.push(this.deps.connection.send(renderLeave(this.deps.puppetAddress(matrixUser), muc, nick, "Bridge restarting")));
    }
    await Promise.allSettled(leaves);
    this.joined.clear();
  }

  /** The connection dropped: the server has removed every puppet from every room. */
  onConnectionLost(): void {
    this.deps.history?.holdEveryRoom();
    this.joined.clear();
    this.rosters.clear();
    for (const [key, p] of this.pending) {
      this.settle(key);
      p.reject(new MucJoinError(key.split("\n")[0] ?? "", p.nick, "connection lost"));
    }
  }

  private attemptJoin(muc: string, from: string, nick: string, history: JoinHistory, avatarHash: string | undefined): Promise<string> {
    const key = `${muc}\n${from}`;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(key);
        reject(new MucJoinError(muc, nick, "no answer from the MUC"));
      }, JOIN_TIMEOUT_MS);
      this.pending.set(key, { nick, resolve, reject, timer });
      this.deps.connection.send(renderJoin(from, muc, nick, { history }, avatarHash)).catch((err: Error) => {
        this.settle(key);
        reject(err);
      });
    });
  }

  private settle(key: string): void {
    const p = this.pending.get(key);
    if (p) clearTimeout(p.timer);
    this.pending.delete(key);
  }

  private forget(muc: string, matrixUser: string): void {
    const members = this.joined.get(muc);
    members?.delete(matrixUser);
    if (members?.size === 0) {
      this.joined.delete(muc);
      this.rosters.delete(muc);
    }
  }

  /** The puppet is out of the room (or renamed); returns its Matrix user when it is out. */
  private onPuppetRemoved(presence: OccupantPresence, puppet: string): string | undefined {
    for (const [matrixUser, nick] of this.joined.get(presence.muc) ?? []) {
      if (nick === presence.nick && this.deps.puppetAddress(matrixUser) === puppet) {
        if (presence.newNick) {
          this.joined.get(presence.muc)?.set(matrixUser, presence.newNick);
          void this.deps.store.setPuppetOccupancy(presence.muc, matrixUser, presence.newNick).catch(() => undefined);
          return undefined;
        }
        this.deps.log.info({ muc: presence.muc, matrixUser, removedBy: presence.removedBy }, "puppet left or was removed from MUC");
        this.forget(presence.muc, matrixUser);
        if (presence.removedBy) void this.deps.store.setPuppetOccupancy(presence.muc, matrixUser, undefined).catch(() => undefined);
        return matrixUser;
      }
    }
    return undefined;
  }

  private updateRoster(presence: OccupantPresence): OccupantChange {
    let roster = this.rosters.get(presence.muc);
    if (!roster) this.rosters.set(presence.muc, (roster = new Map()));
    const known = roster.get(presence.nick);
    if (!presence.available) {
      if (!known) return undefined;
      roster.delete(presence.nick);
      if (presence.newNick) {
        roster.set(presence.newNick, { ...known, nick: presence.newNick });
        return "renamed";
      }
      return "left";
    }
    // A presence that does not mention the avatar leaves it as it was (XEP-0153).
    const keepsAvatar = presence.avatarHash === undefined && known?.avatarHash !== undefined;
    roster.set(presence.nick, keepsAvatar ? { ...presence, avatarHash: known?.avatarHash } : presence);
    if (!known) return "joined";
    return presence.avatarHash !== undefined && presence.avatarHash !== known.avatarHash ? "avatar" : undefined;
  }
}
