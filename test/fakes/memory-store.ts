import type { Link } from "../../src/core/model.js";
import type { BridgeStore, GhostProfileState, MatrixAvatarInfo, MessageMapEntry, OutboxEntry, PresenceSubscription, PuppetOccupancy, ReactionEntry } from "../../src/store/store.js";

/** Who is in a room under which nick; no nick takes them out. */
function setNick(rooms: Map<string, Map<string, string>>, room: string, who: string, nick: string | undefined): void {
  const members = rooms.get(room) ?? new Map<string, string>();
  if (nick === undefined) members.delete(who);
  else members.set(who, nick);
  rooms.set(room, members);
}

/**
 * The store in memory, for unit tests of the pipeline: the same contract as RedisStore, without
 * expiry (a test never lives long enough to see a TTL). `failing` makes every call reject, as Redis
 * away would.
 */
export class MemoryStore implements BridgeStore {
  private down = false;
  private readonly availableListeners: (() => void)[] = [];
  readonly outboxes = new Map<string, string[]>();
  private readonly onceKeys = new Set<string>();
  private readonly linksByRoom = new Map<string, Link>();
  private readonly messages = new Map<string, MessageMapEntry>();
  private readonly xmppIds = new Map<string, string>();
  private readonly reactions = new Map<string, Map<string, string>>();
  private readonly reactionEvents = new Map<string, ReactionEntry>();
  private readonly threads = new Map<string, string>();
  private readonly lastMessages = new Map<string, string>();
  private readonly deliveredUntil = new Map<string, number>();
  private readonly lastStanzaIds = new Map<string, string>();
  private readonly gateway = new Map<string, Map<string, string>>();
  private readonly occupancy = new Map<string, Map<string, string>>();
  private readonly subscribers = new Map<string, Set<string>>();
  private readonly profiles = new Map<string, GhostProfileState>();
  private readonly uploads = new Map<string, string>();
  private readonly memberships = new Map<string, string>();
  private readonly matrixAvatars = new Map<string, MatrixAvatarInfo>();
  private readonly mucAvatars = new Map<string, string>();

  private async io<T>(work: () => T): Promise<T> {
    await Promise.resolve();
    if (this.down) throw new Error("store unavailable");
    return work();
  }

  private lane(lane: string): string[] {
    let entries = this.outboxes.get(lane);
    if (!entries) this.outboxes.set(lane, (entries = []));
    return entries;
  }

  get failing(): boolean {
    return this.down;
  }

  /** Back from failing, the store tells its listeners, as RedisStore does when it reconnects. */
  set failing(failing: boolean) {
    const back = this.down && !failing;
    this.down = failing;
    if (back) for (const listener of this.availableListeners) listener();
  }

  ping = (): Promise<void> => this.io(() => undefined);
  isAvailable = (): boolean => !this.down;
  onAvailable = (listener: () => void): void => void this.availableListeners.push(listener);

  acceptTransaction = (txnId: string, entries: readonly OutboxEntry[]): Promise<boolean> =>
    this.io(() => {
      if (this.onceKeys.has(`txn:${txnId}`)) return false;
      this.onceKeys.add(`txn:${txnId}`);
      for (const e of entries) this.lane(e.lane).push(e.payload);
      return true;
    });

  appendToOutbox = (entry: OutboxEntry): Promise<void> => this.io(() => void this.lane(entry.lane).push(entry.payload));

  appendToOutboxOnce = (entry: OutboxEntry, onceKey: string): Promise<boolean> =>
    this.io(() => {
      if (this.onceKeys.has(`once:${entry.lane}:${onceKey}`)) return false;
      this.onceKeys.add(`once:${entry.lane}:${onceKey}`);
      this.lane(entry.lane).push(entry.payload);
      return true;
    });

  peekOutbox = (lane: string, count: number): Promise<string[]> => this.io(() => this.lane(lane).slice(0, count));
  removeFromOutbox = (lane: string, payloads: readonly string[]): Promise<void> =>
    this.io(() => {
      const entries = this.lane(lane);
      if (payloads.every((payload, i) => entries[i] === payload)) entries.splice(0, payloads.length);
    });
  outboxDepths = (): Promise<Map<string, number>> => this.io(() => new Map([...this.outboxes].map(([lane, entries]) => [lane, entries.length])));
  outboxHeads = (): Promise<Map<string, string>> => this.io(() => new Map([...this.outboxes].flatMap(([lane, entries]) => (entries.length > 0 ? [[lane, entries[0]!]] : []))));
  pendingLanes = (): Promise<string[]> => this.io(() => [...this.outboxes].filter(([, e]) => e.length > 0).map(([lane]) => lane));

  saveLink = (link: Link): Promise<void> => this.io(() => void this.linksByRoom.set(link.roomId, link));
  removeLink = (link: Link): Promise<void> => this.io(() => void this.linksByRoom.delete(link.roomId));
  linkByRoom = (roomId: string): Promise<Link | undefined> => this.io(() => this.linksByRoom.get(roomId));
  linkByMuc = (muc: string): Promise<Link | undefined> => this.io(() => [...this.linksByRoom.values()].find((l) => l.kind !== "dm" && l.muc === muc));
  dmLink = (matrixUser: string, xmppUser: string): Promise<Link | undefined> =>
    this.io(() => [...this.linksByRoom.values()].find((l) => l.kind === "dm" && l.matrixUser === matrixUser && l.xmppUser === xmppUser));
  links = (): Promise<Link[]> => this.io(() => [...this.linksByRoom.values()]);

  recordMessage = (entry: MessageMapEntry): Promise<void> =>
    this.io(() => {
      this.messages.set(entry.eventId, entry);
      for (const id of [entry.ids.id, entry.ids.originId, entry.ids.stanzaId]) if (id) this.xmppIds.set(`${entry.conversation}\n${id}`, entry.eventId);
    });
  eventIdForXmppId = (conversation: string, xmppId: string): Promise<string | undefined> => this.io(() => this.xmppIds.get(`${conversation}\n${xmppId}`));
  messageByEventId = (eventId: string): Promise<MessageMapEntry | undefined> => this.io(() => this.messages.get(eventId));

  reactionsOf = (target: string, sender: string): Promise<Map<string, string>> => this.io(() => new Map(this.reactions.get(`${target}\n${sender}`)));
  recordReaction = (reaction: ReactionEntry): Promise<void> =>
    this.io(() => {
      const key = `${reaction.target}\n${reaction.sender}`;
      this.reactions.set(key, (this.reactions.get(key) ?? new Map<string, string>()).set(reaction.key, reaction.eventId));
      this.reactionEvents.set(reaction.eventId, reaction);
    });
  forgetReaction = (reaction: ReactionEntry): Promise<void> =>
    this.io(() => {
      this.reactions.get(`${reaction.target}\n${reaction.sender}`)?.delete(reaction.key);
      this.reactionEvents.delete(reaction.eventId);
    });
  reactionByEventId = (eventId: string): Promise<ReactionEntry | undefined> => this.io(() => this.reactionEvents.get(eventId));

  setThreadRoot = (conversation: string, thread: string, rootEventId: string): Promise<void> => this.io(() => void this.threads.set(`${conversation}\n${thread}`, rootEventId));
  threadRoot = (conversation: string, thread: string): Promise<string | undefined> => this.io(() => this.threads.get(`${conversation}\n${thread}`));

  setLastMessage = (conversation: string, sender: string, eventId: string): Promise<void> => this.io(() => void this.lastMessages.set(`${conversation}\n${sender}`, eventId));
  lastMessage = (conversation: string, sender: string): Promise<string | undefined> => this.io(() => this.lastMessages.get(`${conversation}\n${sender}`));

  setMucDeliveredUntil = (muc: string, time: number): Promise<void> => this.io(() => void this.deliveredUntil.set(muc, Math.floor(time)));
  mucDeliveredUntil = (muc: string): Promise<number | undefined> => this.io(() => this.deliveredUntil.get(muc));
  setMucLastStanzaId = (muc: string, stanzaId: string): Promise<void> => this.io(() => void this.lastStanzaIds.set(muc, stanzaId));
  mucLastStanzaId = (muc: string): Promise<string | undefined> => this.io(() => this.lastStanzaIds.get(muc));

  setPuppetOccupancy = (muc: string, matrixUser: string, nick: string | undefined): Promise<void> => this.io(() => setNick(this.occupancy, muc, matrixUser, nick));
  puppetOccupancy = (): Promise<PuppetOccupancy[]> =>
    this.io(() => [...this.occupancy].flatMap(([muc, puppets]) => [...puppets].map(([matrixUser, nick]) => ({ muc, matrixUser, nick }))));

  setGatewayOccupant = (room: string, occupant: string, nick: string | undefined): Promise<void> => this.io(() => setNick(this.gateway, room, occupant, nick));
  gatewayOccupants = (room: string): Promise<Map<string, string>> => this.io(() => new Map(this.gateway.get(room) ?? []));

  addPresenceSubscriber = (matrixUser: string, xmppUser: string): Promise<void> =>
    this.io(() => void this.subscribers.set(matrixUser, (this.subscribers.get(matrixUser) ?? new Set<string>()).add(xmppUser)));
  removePresenceSubscriber = (matrixUser: string, xmppUser: string): Promise<void> => this.io(() => void this.subscribers.get(matrixUser)?.delete(xmppUser));
  presenceSubscribers = (matrixUser: string): Promise<string[]> => this.io(() => [...(this.subscribers.get(matrixUser) ?? [])]);
  presenceSubscriptions = (): Promise<PresenceSubscription[]> =>
    this.io(() => [...this.subscribers].flatMap(([matrixUser, xmppUsers]) => [...xmppUsers].map((xmppUser) => ({ matrixUser, xmppUser }))));

  ghostProfile = (ghost: string): Promise<GhostProfileState> => this.io(() => ({ ...this.profiles.get(ghost) }));
  setGhostProfile = (ghost: string, state: GhostProfileState): Promise<void> =>
    this.io(() => void this.profiles.set(ghost, { ...this.profiles.get(ghost), ...Object.fromEntries(Object.entries(state).filter(([, v]) => v !== undefined)) }));

  membershipOf = (roomId: string, userId: string): Promise<string | undefined> => this.io(() => this.memberships.get(`${roomId}\n${userId}`));
  setMembership = (roomId: string, userId: string, membership: string): Promise<void> => this.io(() => void this.memberships.set(`${roomId}\n${userId}`, membership));
  forgetMembership = (roomId: string, userId: string): Promise<void> => this.io(() => void this.memberships.delete(`${roomId}\n${userId}`));

  uploadedAvatar = (sha1: string): Promise<string | undefined> => this.io(() => this.uploads.get(sha1));
  setUploadedAvatar = (sha1: string, mxc: string): Promise<void> => this.io(() => void this.uploads.set(sha1, mxc));
  matrixAvatar = (mxc: string): Promise<MatrixAvatarInfo | undefined> => this.io(() => this.matrixAvatars.get(mxc));
  setMatrixAvatar = (mxc: string, info: MatrixAvatarInfo): Promise<void> => this.io(() => void this.matrixAvatars.set(mxc, info));
  mucAvatar = (muc: string): Promise<string | undefined> => this.io(() => this.mucAvatars.get(muc));
  setMucAvatar = (muc: string, hash: string): Promise<void> => this.io(() => void this.mucAvatars.set(muc, hash));

  close = (): Promise<void> => Promise.resolve();
}
