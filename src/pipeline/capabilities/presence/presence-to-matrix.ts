import type { BridgeConfig } from "../../../config/schema.js";
import { ghostUserId, type AddressingConfig } from "../../../core/identity.js";
import { ContactPresences, toMatrixPresence, type UserPresence } from "../../../core/presence.js";
import type { Logger } from "../../../log.js";
import type { MatrixRooms } from "../../../matrix/rooms.js";
import type { BridgeStore } from "../../../store/store.js";
import type { ContactPresence } from "../../../xmpp/presence-stanzas.js";
import { LatestWinsThrottle } from "../../throttle.js";

/** XMPP users whose resources are kept track of; those heard from least recently are forgotten first. */
const MAX_CONTACTS = 10_000;
/**
 * Synapse takes a user who has neither synced nor set their presence for 30 seconds
 * (presence.sync_online_timeout) for offline, and ghosts never sync: so the presence of each ghost
 * that is not offline is set again this often.
 */
const REFRESH_MS = 20_000;

export interface PresenceToMatrixDeps {
  store: BridgeStore;
  rooms: MatrixRooms;
  addressing: AddressingConfig;
  settings: BridgeConfig["presence"];
  log: Logger;
}

/**
 * XMPP users' presence, to their ghosts on Matrix: only presence sent to the puppet of a Matrix user
 * they share a DM with counts, merged over their resources, at most once per interval per ghost.
 * Ephemeral, so not queued: the latest state is all that matters.
 */
export class PresenceToMatrix {
  /** Keyed by ghost: one entry per XMPP user. */
  private readonly contacts = new ContactPresences(MAX_CONTACTS);
  private readonly throttle: LatestWinsThrottle<UserPresence>;
  private readonly refresher: NodeJS.Timeout;

  constructor(private readonly deps: PresenceToMatrixDeps) {
    this.throttle = new LatestWinsThrottle<UserPresence>(
      deps.settings.minIntervalSeconds * 1000,
      async (ghost, presence) => {
        await this.deps.rooms.setPresence(ghost, toMatrixPresence(presence));
        this.deps.log.debug({ ghost, presence }, "ghost presence set");
      },
      (ghost, err) => this.deps.log.warn({ ghost, err }, "could not set a ghost's presence"),
    );
    this.refresher = setInterval(() => {
      for (const [ghost, presence] of this.contacts.available()) this.throttle.offer(ghost, presence);
    }, REFRESH_MS).unref();
  }

  /** Availability presence an XMPP user's resource sent to a Matrix user's puppet. */
  async handle(contact: ContactPresence, matrixUser: string): Promise<void> {
    this.deps.log.debug({ from: contact.from, matrixUser, presence: contact.presence }, "presence from an XMPP user");
    // The same presence reaches every puppet the user is subscribed to; those without a DM are skipped.
    if (!this.deps.settings.enabled || !(await this.deps.store.dmLink(matrixUser, contact.from.bare))) return;
    const ghost = ghostUserId(contact.from.bare, this.deps.addressing);
    const changed = this.contacts.update(ghost, contact.from.resource, contact.presence, contact.priority);
    if (changed) this.throttle.offer(ghost, changed);
  }

  /** On standby: the contacts' presence is the active instance's to keep up, this one's knowledge goes stale. */
  forgetContacts(): void {
    this.contacts.forgetAll();
  }

  stop(): void {
    clearInterval(this.refresher);
    this.throttle.stop();
  }
}
