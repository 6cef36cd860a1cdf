import { AvatarRejectedError, inspectAvatar } from "../core/avatars.js";
import type { Logger } from "../log.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { BridgeStore } from "../store/store.js";
import type { MucDescription } from "../xmpp/muc-directory.js";
import type { VcardProfile } from "../xmpp/vcard.js";
import type { AvatarUploads } from "./avatar-uploads.js";
import { deliver } from "./errors.js";

/**
 * A MUC's name and avatar (XEP-0486) brought to its linked room, as the bot: when the room is new and
 * whenever the MUC says its configuration changed. Only what differs is written.
 */
export class RoomMetadataToMatrix {
  constructor(
    private readonly store: BridgeStore,
    private readonly rooms: MatrixRooms,
    private readonly describeMuc: (muc: string) => Promise<MucDescription | undefined>,
    /** The room's vCard, where its avatar is (XEP-0486). */
    private readonly roomProfile: (muc: string) => Promise<VcardProfile | undefined>,
    private readonly uploads: AvatarUploads,
    private readonly botUserId: string,
    private readonly log: Logger,
  ) {}

  /** announcedHash: the avatar hash in the room's own presence, for rooms whose disco#info gives none (ejabberd 23.01). */
  async mucChanged(muc: string, announcedHash?: string): Promise<void> {
    const link = await this.store.linkByMuc(muc);
    if (!link || link.kind === "dm") return;
    const description = await this.describeMuc(muc);
    if (!description) return;
    // A MUC without a name of its own leaves the room's as it is.
    if (description.title) await deliver("room name", () => this.rooms.setRoomName(link.roomId, description.title!));
    const avatarHash = description.avatarHash ?? announcedHash;
    if (avatarHash !== undefined) await this.avatar(muc, link.roomId, avatarHash);
  }

  private async avatar(muc: string, roomId: string, hash: string): Promise<void> {
    if ((await this.store.mucAvatar(muc)) === hash) return;
    const profile = hash === "" ? {} : await this.roomProfile(muc);
    // No answer: not remembered, so the next change tries again.
    if (!profile) return;
    const mxc = hash === "" ? "" : await this.upload(muc, profile);
    if (mxc !== undefined) {
      await deliver("room avatar", () => this.rooms.setRoomAvatar(roomId, mxc));
      this.log.info({ muc, roomId, hash, mxc }, mxc ? "room avatar follows the MUC's" : "the MUC has no avatar");
    }
    await this.store.setMucAvatar(muc, hash);
  }

  /** The room's photo uploaded; undefined when it has none that can be an avatar. */
  private async upload(muc: string, profile: VcardProfile): Promise<string | undefined> {
    if (!profile.photo) {
      this.log.info({ muc, reason: profile.photoRejected ?? "no photo in the room's vCard" }, "MUC avatar not bridged");
      return undefined;
    }
    try {
      const avatar = await inspectAvatar(profile.photo);
      return await deliver("avatar upload", () => this.uploads.mxcOf(avatar, this.botUserId));
    } catch (err) {
      if (!(err instanceof AvatarRejectedError)) throw err;
      this.log.info({ muc, reason: err.reason }, "MUC avatar not bridged");
      return undefined;
    }
  }
}
