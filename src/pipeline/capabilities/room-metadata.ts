import { AvatarRejectedError, inspectAvatar } from "../../core/avatars.js";
import { xmppIdOf } from "../../core/conversations.js";
import type { MatrixInboundOf, XmppEventOf } from "../../core/model.js";
import * as notices from "../../core/notices.js";
import type { MucDescription } from "../../xmpp/muc-directory.js";
import { renderSubject, setMucName, setMucPhoto } from "../../xmpp/muc-config.js";
import { requestFailure, type VcardProfile } from "../../xmpp/vcard.js";
import { deliver, isPassing } from "../errors.js";
import type { MatrixDestination } from "../destinations/matrix-destination.js";
import type { XmppDestination } from "../destinations/xmpp-destination.js";
import type { CapabilityDeps } from "./capability.js";
import type { AvatarUploads } from "./profiles/avatar-uploads.js";
import type { MatrixAvatars } from "./profiles/matrix-avatars.js";

export interface RoomMetadataDeps extends CapabilityDeps {
  /** Matrix avatars as images, to send to XMPP. */
  avatars: MatrixAvatars;
  /** XMPP avatars uploaded to Matrix, each image once. */
  uploads: AvatarUploads;
  describeMuc(muc: string): Promise<MucDescription | undefined>;
  /** The room's vCard, where its avatar is (XEP-0486). */
  roomProfile(muc: string): Promise<VcardProfile | undefined>;
}

/**
 * A room's topic, name and avatar both ways. A Matrix user's change is made on XMPP by their puppet,
 * as far as the MUC lets it: the subject (XEP-0045 §8.1, for moderators or whoever the room allows),
 * the name (§10.2, owners only), the avatar (XEP-0486, owners only); a refusal is told in the room.
 * The MUC's subject, name and avatar are brought to the room as the bot, when the room is new and
 * whenever the MUC says its configuration changed; only what differs is written.
 */
export class RoomMetadata {
  constructor(private readonly deps: RoomMetadataDeps) {}

  async fromMatrix({ sender, eventId, field, value }: MatrixInboundOf<"room-state">, destination: XmppDestination): Promise<void> {
    const { muc } = destination;
    if (!muc) return;
    if (field === "topic") await this.subjectToXmpp(destination, muc, sender, eventId, value);
    else if (field === "name") await this.asOwner(destination, muc, sender, "name", () => setMucName(this.deps.connection, destination.addressOf(sender), muc, value));
    else await this.avatarToXmpp(destination, muc, sender, value);
  }

  /** Every puppet hears the subject on joining: the topic is only written when it differs. */
  async subjectFromXmpp({ subject }: XmppEventOf<"subject">, { roomId }: MatrixDestination): Promise<void> {
    await deliver("room topic", () => this.deps.rooms.setTopic(roomId, subject));
  }

  /** announcedHash: the avatar hash in the room's own presence, for rooms whose disco#info gives none (ejabberd 23.01). */
  async mucChanged({ muc, avatarHash: announcedHash }: XmppEventOf<"room-changed">, { link, roomId }: MatrixDestination): Promise<void> {
    if (link.kind === "dm") return;
    const description = await this.deps.describeMuc(muc);
    if (!description) return;
    // A MUC without a name of its own leaves the room's as it is.
    const { title } = description;
    if (title) await deliver("room name", () => this.deps.rooms.setRoomName(roomId, title));
    const avatarHash = description.avatarHash ?? announcedHash;
    if (avatarHash !== undefined) await this.avatarToMatrix(muc, roomId, avatarHash);
  }

  /**
   * The puppet sets the subject. The MUC answers a refusal with an error carrying the message's id,
   * which is why the change is recorded in the message map first.
   */
  private async subjectToXmpp(destination: XmppDestination, muc: string, sender: string, eventId: string, topic: string): Promise<void> {
    if (!(await destination.ready(sender))) return;
    const id = xmppIdOf(eventId);
    await this.deps.store.recordMessage({ roomId: destination.roomId, eventId, conversation: muc, ids: { id }, sender }, this.deps.messageMapSeconds);
    await deliver("subject", () => this.deps.connection.send(renderSubject(destination.addressOf(sender), muc, id, topic)));
    this.deps.log.info({ muc, sender }, "room topic sent as the MUC subject");
  }

  /** The room's vCard photo (XEP-0486) becomes the Matrix avatar's thumbnail; no avatar removes it. */
  private async avatarToXmpp(destination: XmppDestination, muc: string, sender: string, mxc: string): Promise<void> {
    const image = mxc ? await deliver("avatar download", () => this.deps.avatars.image(mxc)) : undefined;
    if (mxc && !image) {
      await this.deps.rooms.notice(destination.roomId, notices.roomAvatarNotShown(muc));
      return;
    }
    const previous = await this.deps.store.mucAvatar(muc);
    // Remembered before the MUC announces it, so that announcement is not taken for news from XMPP.
    await this.deps.store.setMucAvatar(muc, image?.sha1 ?? "");
    let done = false;
    try {
      const photo = image ? { bytes: image.bytes, mediaType: image.mediaType } : undefined;
      done = await this.asOwner(destination, muc, sender, "avatar", () => setMucPhoto(this.deps.connection, destination.addressOf(sender), muc, photo, this.deps.log));
    } finally {
      if (!done) await this.deps.store.setMucAvatar(muc, previous ?? "");
    }
  }

  /** Runs an owner's request; a refusal becomes a notice in the room. True when the MUC took it. */
  private async asOwner(destination: XmppDestination, muc: string, sender: string, what: string, request: () => Promise<void>): Promise<boolean> {
    try {
      await deliver(`room ${what}`, request);
      this.deps.log.info({ muc, sender, what }, "MUC configuration changed from Matrix");
      return true;
    } catch (err) {
      if (isPassing(err)) throw err;
      const condition = requestFailure(err);
      this.deps.log.info({ muc, sender, what, condition }, "the MUC refused a configuration change");
      await this.deps.rooms.notice(destination.roomId, notices.roomChangeRefused(what, muc, condition));
      return false;
    }
  }

  private async avatarToMatrix(muc: string, roomId: string, hash: string): Promise<void> {
    if ((await this.deps.store.mucAvatar(muc)) === hash) return;
    const profile = hash === "" ? {} : await this.deps.roomProfile(muc);
    // No answer: not remembered, so the next change tries again.
    if (!profile) return;
    const mxc = hash === "" ? "" : await this.uploadAvatar(muc, profile);
    if (mxc !== undefined) {
      await deliver("room avatar", () => this.deps.rooms.setRoomAvatar(roomId, mxc));
      this.deps.log.info({ muc, roomId, hash, mxc }, mxc ? "room avatar follows the MUC's" : "the MUC has no avatar");
    }
    await this.deps.store.setMucAvatar(muc, hash);
  }

  /** The room's photo uploaded; undefined when it has none that can be an avatar. */
  private async uploadAvatar(muc: string, profile: VcardProfile): Promise<string | undefined> {
    if (!profile.photo) {
      this.deps.log.info({ muc, reason: profile.photoRejected ?? "no photo in the room's vCard" }, "MUC avatar not bridged");
      return undefined;
    }
    try {
      const avatar = await inspectAvatar(profile.photo);
      return await deliver("avatar upload", () => this.deps.uploads.mxcOf(avatar, this.deps.botUserId));
    } catch (err) {
      if (!(err instanceof AvatarRejectedError)) throw err;
      this.deps.log.info({ muc, reason: err.reason }, "MUC avatar not bridged");
      return undefined;
    }
  }
}
