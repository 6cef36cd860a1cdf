import type { BridgeConfig } from "../config/schema.js";
import { BoundedMap } from "../core/bounded-map.js";
import { ghostUserId, isGhost, splitJid, type AddressingConfig } from "../core/identity.js";
import { fromMatrixPresence, samePresence, type UserPresence } from "../core/presence.js";
import type { Logger } from "../log.js";
import type { MatrixEvent } from "../matrix/appservice-api.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { BridgeStore } from "../store/store.js";
import type { ComponentLink } from "../xmpp/component-link.js";
import { puppetAddress } from "../xmpp/puppet-address.js";
import { renderPuppetPresence, renderSubscription, type SubscriptionType } from "../xmpp/presence-stanzas.js";
import { LatestWinsThrottle } from "./throttle.js";

const OFFLINE: UserPresence = { availability: "offline" };
/** Matrix users whose last presence sent to XMPP is remembered, to send only changes. */
const MAX_USERS = 10_000;

/**
 * Puppets' presence, to XMPP users: subscriptions and probes answered (RFC 6121 §3, §4.3), and Matrix
 * users' presence (m.presence) sent on to the XMPP users subscribed to their puppet, at most once per
 * interval per Matrix user. Presence goes only to users who share a DM with the Matrix user; others
 * see the puppet unavailable.
 */
export class PresenceToXmpp {
  private readonly throttle: LatestWinsThrottle<UserPresence>;
  private readonly lastOffered = new BoundedMap<string, UserPresence>(MAX_USERS);

  constructor(
    private readonly store: BridgeStore,
    private readonly rooms: MatrixRooms,
    private readonly link: ComponentLink,
    private readonly addressing: AddressingConfig,
    private readonly botUserId: string,
    private readonly settings: BridgeConfig["presence"],
    /** The puppet's avatar hash (XEP-0153), which every presence it sends carries. */
    private readonly avatarHashOf: (matrixUser: string) => Promise<string | undefined>,
    private readonly log: Logger,
  ) {
    this.throttle = new LatestWinsThrottle<UserPresence>(
      settings.minIntervalSeconds * 1000,
      (matrixUser, presence) => this.broadcast(matrixUser, presence),
      (matrixUser, err) => this.log.warn({ matrixUser, err }, "could not send a puppet's presence"),
    );
  }

  /** True for the events this handles: m.presence, pushed by the homeserver without a room. */
  handle(event: MatrixEvent): boolean {
    if (event.type !== "m.presence") return false;
    const sender = event.sender;
    const presence = fromMatrixPresence(event.content);
    // The ghosts' own presence comes back too: it is the bridge's doing, never news for XMPP.
    if (typeof sender !== "string" || !presence || sender === this.botUserId || isGhost(sender, this.addressing)) return true;
    this.log.debug({ matrixUser: sender, presence }, "presence from a Matrix user");
    if (!this.settings.enabled) return true;
    // Synapse also pushes an unchanged presence when only last_active_ago moved.
    if (samePresence(this.lastOffered.get(sender), presence)) return true;
    this.lastOffered.set(sender, presence);
    this.throttle.offer(sender, presence);
    return true;
  }

  /** A subscription stanza or probe from an XMPP user (`from`, full or bare) to a Matrix user's puppet. */
  async onSubscription(type: SubscriptionType, from: string, matrixUser: string): Promise<void> {
    const xmppUser = splitJid(from).bare;
    const puppet = puppetAddress(matrixUser, this.addressing);
    this.log.debug({ type, from, matrixUser }, "subscription stanza to a puppet");
    switch (type) {
      case "subscribe":
        // Anyone may subscribe, as with an account that accepts every contact; what they see is current().
        await this.store.addPresenceSubscriber(matrixUser, xmppUser);
        await this.link.send(renderSubscription(puppet, xmppUser, "subscribed"));
        await this.send(matrixUser, xmppUser, await this.current(matrixUser, xmppUser));
        // As gateways do, the puppet asks for the user's presence in return.
        if (this.settings.enabled) await this.link.send(renderSubscription(puppet, xmppUser, "subscribe"));
        return;
      case "probe":
        // Only a server holding a subscription probes: one from before the store knew is noted now.
        await this.store.addPresenceSubscriber(matrixUser, xmppUser);
        await this.send(matrixUser, from, await this.current(matrixUser, xmppUser));
        return;
      case "unsubscribe":
        // RFC 6121 §3.3.3: the contact's server then sends unavailable presence to the former subscriber.
        await this.store.removePresenceSubscriber(matrixUser, xmppUser);
        await this.send(matrixUser, xmppUser, OFFLINE);
        return;
      case "subscribed":
      case "unsubscribed":
        // The user's server now sends, or stops sending, the user's presence to the puppet by itself.
        return;
    }
  }

  /**
   * Each puppet probes the users subscribed to it (it asked for their presence in return when they
   * subscribed), so their ghosts' presence is right again after a restart.
   */
  async probeSubscribers(): Promise<void> {
    if (!this.settings.enabled) return;
    let probes = 0;
    for (const { matrixUser, xmppUser } of await this.store.presenceSubscriptions()) {
      if (!(await this.store.dmLink(matrixUser, xmppUser))) continue;
      await this.link.send(renderSubscription(puppetAddress(matrixUser, this.addressing), xmppUser, "probe"));
      probes++;
    }
    if (probes > 0) this.log.info({ probes }, "asked subscribers for their presence");
  }

  /** Sends the puppet's presence again to its subscribers, e.g. with a new avatar hash. */
  async announce(matrixUser: string): Promise<void> {
    for (const xmppUser of await this.store.presenceSubscribers(matrixUser)) {
      await this.send(matrixUser, xmppUser, await this.current(matrixUser, xmppUser));
    }
  }

  stop(): void {
    this.throttle.stop();
  }

  private async broadcast(matrixUser: string, presence: UserPresence): Promise<void> {
    for (const xmppUser of await this.store.presenceSubscribers(matrixUser)) {
      if (await this.store.dmLink(matrixUser, xmppUser)) await this.send(matrixUser, xmppUser, presence);
    }
  }

  /** The Matrix user's presence as the XMPP user may see it. */
  private async current(matrixUser: string, xmppUser: string): Promise<UserPresence> {
    // Without presence bridging, puppets are simply available.
    if (!this.settings.enabled) return { availability: "online" };
    if (!(await this.store.dmLink(matrixUser, xmppUser))) return OFFLINE;
    try {
      // Asked as the XMPP user's ghost: the homeserver shows presence to those who share a room.
      return fromMatrixPresence(await this.rooms.presence(ghostUserId(xmppUser, this.addressing), matrixUser)) ?? OFFLINE;
    } catch (err) {
      this.log.debug({ matrixUser, err }, "no presence from the homeserver");
      return OFFLINE;
    }
  }

  /** Every presence a puppet sends to an XMPP user goes out here. */
  private async send(matrixUser: string, to: string, presence: UserPresence): Promise<void> {
    const avatarHash = presence.availability === "offline" ? undefined : await this.avatarHashOf(matrixUser);
    await this.link.send(renderPuppetPresence(puppetAddress(matrixUser, this.addressing), to, presence, avatarHash === undefined ? {} : { avatarHash }));
  }
}
