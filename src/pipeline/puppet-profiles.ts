import { matrixLocalpart, userIdOfPuppet, type AddressingConfig } from "../core/identity.js";
import type { Logger } from "../log.js";
import type { MatrixEvent } from "../matrix/appservice-api.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { VcardCard } from "../xmpp/vcard.js";
import type { MatrixAvatars } from "./matrix-avatars.js";
import { BoundedMap } from "../core/bounded-map.js";

/** Matrix users whose avatar the bridge knows; bounded so it cannot grow without end. */
const KNOWN_AVATARS = 10_000;

/**
 * Puppets' profiles on XMPP: the vCard they answer with (the Matrix user's global display name and
 * avatar) and the avatar hash their presence carries (XEP-0153). A puppet has one vCard, so the global
 * avatar counts, not a per-room one.
 */
export class PuppetProfiles {
  /** Matrix user → their global avatar's mxc URI ("" for none). */
  private readonly avatarUrls = new BoundedMap<string, string>(KNOWN_AVATARS);

  constructor(
    private readonly rooms: MatrixRooms,
    private readonly avatars: MatrixAvatars,
    /** Whether the Matrix user is one the bridge stands for on XMPP. */
    private readonly bridges: (matrixUser: string) => boolean,
    /** Sends the puppet's presence again wherever it is, with its new avatar hash. */
    private readonly announce: (matrixUser: string) => Promise<void>,
    private readonly addressing: AddressingConfig,
    private readonly log: Logger,
  ) {}

  /** The SHA-1 of the avatar a puppet's vCard serves; "" when the user has none; undefined when unknown. */
  async avatarHashOf(matrixUser: string): Promise<string | undefined> {
    const mxc = this.avatarUrls.get(matrixUser) ?? (await this.lookUp(matrixUser)).avatarUrl;
    return mxc ? this.avatars.hashOf(mxc) : "";
  }

  /** The vCard of a puppet, by its bare JID; undefined when it stands for nobody the bridge serves. */
  async cardOf(puppet: string): Promise<VcardCard | undefined> {
    const matrixUser = userIdOfPuppet(puppet, this.addressing);
    if (!matrixUser || !this.bridges(matrixUser)) return undefined;
    const profile = await this.lookUp(matrixUser);
    const image = profile.avatarUrl ? await this.avatars.image(profile.avatarUrl) : undefined;
    return {
      name: profile.displayName ?? matrixLocalpart(matrixUser),
      ...(image ? { photo: { bytes: image.bytes, mediaType: image.mediaType } } : {}),
    };
  }

  /**
   * A membership event may carry a new avatar: the global profile says whether it is one (and not a
   * per-room one), and if so the puppet announces it in every MUC it is in.
   */
  async observe(event: MatrixEvent): Promise<void> {
    const user = event.state_key;
    if (event.type !== "m.room.member" || event.content?.membership !== "join" || !user || user !== event.sender || !this.bridges(user)) return;
    const known = this.avatarUrls.get(user);
    const shown = typeof event.content.avatar_url === "string" ? event.content.avatar_url : "";
    // Not known yet: no presence announced one, and the next is asked of the profile anyway.
    if (known !== undefined && shown !== known) await this.lookUp(user);
  }

  /** The global profile; an avatar other than the one known is announced, whoever asked. */
  private async lookUp(matrixUser: string): Promise<{ displayName?: string; avatarUrl?: string }> {
    const profile = await this.rooms.globalProfile(matrixUser);
    const before = this.avatarUrls.get(matrixUser);
    const now = profile.avatarUrl ?? "";
    this.remember(matrixUser, now);
    if (before !== undefined && before !== now) {
      this.log.info({ matrixUser, avatar: now }, "a Matrix user's avatar changed");
      await this.announce(matrixUser);
    }
    return profile;
  }

  private remember(matrixUser: string, mxc: string): void {
    this.avatarUrls.set(matrixUser, mxc);
  }
}
