import { matrixLocalpart, userIdOfPuppet, type AddressingConfig } from "../../../core/identity.js";
import type { Logger } from "../../../log.js";
import type { MatrixInboundOf } from "../../../core/model.js";
import type { MatrixRooms } from "../../../matrix/rooms.js";
import type { VcardCard } from "../../../xmpp/vcard.js";
import type { MatrixAvatars } from "./matrix-avatars.js";
import { BoundedMap } from "../../../core/bounded-map.js";

/** Matrix users whose avatar the bridge knows; bounded so it cannot grow without end. */
const KNOWN_AVATARS = 10_000;

export interface PuppetProfilesDeps {
  rooms: MatrixRooms;
  avatars: MatrixAvatars;
  /** Whether the Matrix user is one the bridge stands for on XMPP. */
  bridges: (matrixUser: string) => boolean;
  addressing: AddressingConfig;
  log: Logger;
}

/**
 * Puppets' profiles on XMPP: the vCard they answer with (the Matrix user's global display name and
 * avatar) and the avatar hash their presence carries (XEP-0153). A puppet has one vCard, so the global
 * avatar counts, not a per-room one.
 */
export class PuppetProfiles {
  /** Matrix user → their global avatar's mxc URI ("" for none). */
  private readonly avatarUrls = new BoundedMap<string, string>(KNOWN_AVATARS);

  /** What sends the puppet's presence again wherever it is, with its new avatar hash. */
  private readonly announcers: ((matrixUser: string) => Promise<void>)[] = [];

  constructor(private readonly deps: PuppetProfilesDeps) {}

  /**
   * Registers what announces a changed avatar. Those who announce ask this for the hash, so they
   * register once built rather than being passed in.
   */
  onAvatarChanged(announce: (matrixUser: string) => Promise<void>): void {
    this.announcers.push(announce);
  }

  /** The SHA-1 of the avatar a puppet's vCard serves; "" when the user has none; undefined when unknown. */
  async avatarHashOf(matrixUser: string): Promise<string | undefined> {
    const mxc = this.avatarUrls.get(matrixUser) ?? (await this.lookUp(matrixUser)).avatarUrl;
    return mxc ? this.deps.avatars.hashOf(mxc) : "";
  }

  /** The vCard of a puppet, by its bare JID; undefined when it stands for nobody the bridge serves. */
  async cardOf(puppet: string): Promise<VcardCard | undefined> {
    const matrixUser = userIdOfPuppet(puppet, this.deps.addressing);
    if (!matrixUser || !this.deps.bridges(matrixUser)) return undefined;
    const profile = await this.lookUp(matrixUser);
    const image = profile.avatarUrl ? await this.deps.avatars.image(profile.avatarUrl) : undefined;
    return {
      name: profile.displayName ?? matrixLocalpart(matrixUser),
      ...(image ? { photo: { bytes: image.bytes, mediaType: image.mediaType } } : {}),
    };
  }

  /**
   * A membership event may carry a new avatar: the global profile says whether it is one (and not a
   * per-room one), and if so the puppet announces it in every MUC it is in.
   */
  async observe(event: MatrixInboundOf<"membership">): Promise<void> {
    const user = event.target;
    if (event.membership !== "join" || user !== event.sender || !this.deps.bridges(user)) return;
    const known = this.avatarUrls.get(user);
    const shown = event.avatarUrl ?? "";
    // Not known yet: no presence announced one, and the next is asked of the profile anyway.
    if (known !== undefined && shown !== known) await this.lookUp(user);
  }

  /** The global profile; an avatar other than the one known is announced, whoever asked. */
  private async lookUp(matrixUser: string): Promise<{ displayName?: string; avatarUrl?: string }> {
    const profile = await this.deps.rooms.globalProfile(matrixUser);
    const before = this.avatarUrls.get(matrixUser);
    const now = profile.avatarUrl ?? "";
    this.remember(matrixUser, now);
    if (before !== undefined && before !== now) {
      this.deps.log.info({ matrixUser, avatar: now }, "a Matrix user's avatar changed");
      await Promise.all(this.announcers.map((announce) => announce(matrixUser)));
    }
    return profile;
  }

  private remember(matrixUser: string, mxc: string): void {
    this.avatarUrls.set(matrixUser, mxc);
  }
}
