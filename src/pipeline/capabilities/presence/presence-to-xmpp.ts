import type { BridgeConfig } from "../../../config/schema.js";
import { BoundedMap } from "../../../core/bounded-map.js";
import { ghostUserId, isGhost, splitJid, type AddressingConfig } from "../../../core/identity.js";
import { samePresence, type SubscriptionType, type UserPresence } from "../../../core/presence.js";
import type { Logger } from "../../../log.js";
import type { MatrixInboundOf } from "../../../core/model.js";
import type { MatrixRooms } from "../../../matrix/rooms.js";
import type { BridgeStore } from "../../../store/store.js";
import type { ComponentConnection } from "../../../xmpp/component-connection.js";
import { puppetAddress } from "../../../xmpp/puppet-address.js";
import { renderPuppetPresence, renderSubscription } from "../../../xmpp/presence-stanzas.js";
import { LatestWinsThrottle } from "../../throttle.js";

const OFFLINE: UserPresence = { availability: "offline" };
/** Matrix users whose last presence sent to XMPP is remembered, to send only changes. */
const MAX_USERS = 10_000;

export interface PresenceToXmppDeps {
  store: BridgeStore;
  rooms: MatrixRooms;
  connection: ComponentConnection;
  addressing: AddressingConfig;
  botUserId: string;
  settings: BridgeConfig["presence"];
  /** The puppet's avatar hash (XEP-0153), which every presence it sends carries. */
  avatarHashOf(matrixUser: string): Promise<string | undefined>;
  log: Logger;
}

/**
 * Puppets' presence, to XMPP users: subscriptions and probes answered (RFC 6121 §3, §4.3), and Matrix
 * users' presence (m.presence) sent on to the XMPP users subscribed to their puppet, at most once per
 * interval per Matrix user. Presence goes only to users who share a DM with the Matrix user; others
 * see the puppet unavailable.
 */
export class PresenceToXmpp {
  private readonly throttle: LatestWinsThrottle<UserPresence>;
  private readonly lastOffered = new BoundedMap<string, UserPresence>(MAX_USERS);

  constructor(private readonly deps: PresenceToXmppDeps) {
    this.throttle = new LatestWinsThrottle<UserPresence>(
      deps.settings.minIntervalSeconds * 1000,
      (matrixUser, presence) => this.broadcast(matrixUser, presence),
      (matrixUser, err) => this.deps.log.warn({ matrixUser, err }, "could not send a puppet's presence"),
    );
  }

  /** m.presence, pushed by the homeserver without a room. */
  async handle({ sender, presence }: MatrixInboundOf<"presence">): Promise<void> {
    // The ghosts' own presence comes back too: it is the bridge's doing, never news for XMPP.
    if (sender === this.deps.botUserId || isGhost(sender, this.deps.addressing)) return;
    this.deps.log.debug({ matrixUser: sender, presence }, "presence from a Matrix user");
    if (!this.deps.settings.enabled) return;
    // Synapse also pushes an unchanged presence when only last_active_ago moved.
    if (samePresence(this.lastOffered.get(sender), presence)) return;
    this.lastOffered.set(sender, presence);
    this.throttle.offer(sender, presence);
  }

  /** A subscription stanza or probe from an XMPP user (`from`, full or bare) to a Matrix user's puppet. */
  async onSubscription(type: SubscriptionType, from: string, matrixUser: string): Promise<void> {
    const xmppUser = splitJid(from).bare;
    const puppet = puppetAddress(matrixUser, this.deps.addressing);
    this.deps.log.debug({ type, from, matrixUser }, "subscription stanza to a puppet");
    switch (type) {
      case "subscribe":
        // Anyone may subscribe, as with an account that accepts every contact; what they see is current().
        await this.deps.store.addPresenceSubscriber(matrixUser, xmppUser);
        await this.deps.connection.send(renderSubscription(puppet, xmppUser, "subscribed"));
        await this.send(matrixUser, xmppUser, await this.current(matrixUser, xmppUser));
        // As gateways do, the puppet asks for the user's presence in return.
        if (this.deps.settings.enabled) await this.deps.connection.send(renderSubscription(puppet, xmppUser, "subscribe"));
        return;
      case "probe":
        // Only a server holding a subscription probes: one from before the store knew is noted now.
        await this.deps.store.addPresenceSubscriber(matrixUser, xmppUser);
        await this.send(matrixUser, from, await this.current(matrixUser, xmppUser));
        return;
      case "unsubscribe":
        // RFC 6121 §3.3.3: the contact's server then sends unavailable presence to the former subscriber.
        await this.deps.store.removePresenceSubscriber(matrixUser, xmppUser);
        await this.send(matrixUser, xmppUser, OFFLINE);
        return;
      case "subscribed":
      case "unsubscribed":
        // The user's server now sends, or stops sending, the user's presence to the puppet by itself.
        return;
    }
  }

  /**
   * What an XMPP client does as it comes online (RFC 6121 §4.2, §4.3), once for each puppet: it sends its
   * presence to its subscribers, and probes them (it asked for their presence in return when they
   * subscribed). A homeserver drops the presence changes it could not push while the bridge was away,
   * so the Matrix user's presence is read from it; the ghosts' presence comes back with the answers.
   */
  async greetSubscribers(): Promise<void> {
    if (!this.deps.settings.enabled) return;
    const subscribersOf = new Map<string, string[]>();
    for (const { matrixUser, xmppUser } of await this.deps.store.presenceSubscriptions()) {
      if (!(await this.deps.store.dmLink(matrixUser, xmppUser))) continue;
      subscribersOf.set(matrixUser, [...(subscribersOf.get(matrixUser) ?? []), xmppUser]);
    }
    let probes = 0;
    for (const [matrixUser, xmppUsers] of subscribersOf) {
      const puppet = puppetAddress(matrixUser, this.deps.addressing);
      for (const xmppUser of xmppUsers) await this.deps.connection.send(renderSubscription(puppet, xmppUser, "probe"));
      probes += xmppUsers.length;
      await this.announceFromHomeserver(matrixUser, xmppUsers[0]!);
    }
    if (probes > 0) this.deps.log.info({ probes, puppets: subscribersOf.size }, "greeted presence subscribers");
  }

  /** Sends the puppet's presence again to its subscribers, e.g. with a new avatar hash. */
  async announce(matrixUser: string): Promise<void> {
    for (const xmppUser of await this.deps.store.presenceSubscribers(matrixUser)) {
      await this.send(matrixUser, xmppUser, await this.current(matrixUser, xmppUser));
    }
  }

  stop(): void {
    this.throttle.stop();
  }

  private async broadcast(matrixUser: string, presence: UserPresence): Promise<void> {
    for (const xmppUser of await this.deps.store.presenceSubscribers(matrixUser)) {
      if (await this.deps.store.dmLink(matrixUser, xmppUser)) await this.send(matrixUser, xmppUser, presence);
    }
  }

  /** The Matrix user's presence, read as a subscriber's ghost, to all their subscribers; unless news came meanwhile. */
  private async announceFromHomeserver(matrixUser: string, subscriber: string): Promise<void> {
    const heard = this.lastOffered.get(matrixUser);
    const presence = await this.deps.rooms.presence(ghostUserId(subscriber, this.deps.addressing), matrixUser).catch((err: unknown) => {
      this.deps.log.debug({ matrixUser, err }, "no presence from the homeserver");
      return undefined;
    });
    // An m.presence handled while the homeserver answered is newer than its answer.
    if (presence === undefined || this.lastOffered.get(matrixUser) !== heard) return;
    this.lastOffered.set(matrixUser, presence);
    this.throttle.offer(matrixUser, presence);
  }

  /** The Matrix user's presence as the XMPP user may see it. */
  private async current(matrixUser: string, xmppUser: string): Promise<UserPresence> {
    // Without presence bridging, puppets are simply available.
    if (!this.deps.settings.enabled) return { availability: "online" };
    if (!(await this.deps.store.dmLink(matrixUser, xmppUser))) return OFFLINE;
    try {
      // Asked as the XMPP user's ghost: the homeserver shows presence to those who share a room.
      return (await this.deps.rooms.presence(ghostUserId(xmppUser, this.deps.addressing), matrixUser)) ?? OFFLINE;
    } catch (err) {
      this.deps.log.debug({ matrixUser, err }, "no presence from the homeserver");
      return OFFLINE;
    }
  }

  /** Every presence a puppet sends to an XMPP user goes out here. */
  private async send(matrixUser: string, to: string, presence: UserPresence): Promise<void> {
    const avatarHash = presence.availability === "offline" ? undefined : await this.deps.avatarHashOf(matrixUser);
    await this.deps.connection.send(renderPuppetPresence(puppetAddress(matrixUser, this.deps.addressing), to, presence, avatarHash === undefined ? {} : { avatarHash }));
  }
}
