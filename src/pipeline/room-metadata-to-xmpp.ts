import type { AddressingConfig } from "../core/identity.js";
import type { MatrixInboundOf } from "../core/model.js";
import * as notices from "../core/notices.js";
import type { Logger } from "../log.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { BridgeStore } from "../store/store.js";
import type { ComponentConnection } from "../xmpp/component-connection.js";
import { renderSubject, setMucName, setMucPhoto } from "../xmpp/muc-config.js";
import { puppetAddress } from "../xmpp/puppet-address.js";
import { requestFailure } from "../xmpp/vcard.js";
import { deliver, isPassing } from "./errors.js";
import type { MatrixAvatars } from "./matrix-avatars.js";
import type { MucLink, Puppets } from "./puppets.js";
import { xmppIdOf } from "./xmpp-destination.js";

export interface RoomMetadataToXmppDeps {
  store: BridgeStore;
  rooms: MatrixRooms;
  connection: ComponentConnection;
  avatars: MatrixAvatars;
  puppets: Puppets;
  addressing: AddressingConfig;
  messageMapSeconds: number;
  log: Logger;
}

/**
 * A Matrix user's change of a bridged room's topic, name or avatar, made on XMPP by their puppet, as far
 * as the MUC lets it: the subject (XEP-0045 §8.1, for moderators or whoever the room allows), the name
 * (§10.2, owners only), the avatar (XEP-0486, owners only). A refusal is told in the room.
 */
export class RoomMetadataToXmpp {
  constructor(private readonly deps: RoomMetadataToXmppDeps) {}

  async handle({ sender, roomId, eventId, field, value }: MatrixInboundOf<"room-state">): Promise<void> {
    const link = await this.deps.store.linkByRoom(roomId);
    if (!link || link.kind === "dm") return;
    if (field === "topic") await this.subject(link, sender, roomId, eventId, value);
    else if (field === "name") await this.asOwner(link, sender, roomId, "name", () => setMucName(this.deps.connection, puppetAddress(sender, this.deps.addressing), link.muc, value));
    else await this.avatar(link, sender, roomId, value);
  }

  /**
   * The puppet sets the subject. The MUC answers a refusal with an error carrying the message's id,
   * which is why the change is recorded in the message map first.
   */
  private async subject(link: MucLink, sender: string, roomId: string, eventId: string, topic: string): Promise<void> {
    if (!(await this.deps.puppets.ready(link, sender, roomId))) return;
    const id = xmppIdOf(eventId);
    await this.deps.store.recordMessage({ roomId, eventId, conversation: link.muc, ids: { id }, sender }, this.deps.messageMapSeconds);
    await deliver("subject", () => this.deps.connection.send(renderSubject(puppetAddress(sender, this.deps.addressing), link.muc, id, topic)));
    this.deps.log.info({ muc: link.muc, sender }, "room topic sent as the MUC subject");
  }

  /** The room's vCard photo (XEP-0486) becomes the Matrix avatar's thumbnail; no avatar removes it. */
  private async avatar(link: MucLink, sender: string, roomId: string, mxc: string): Promise<void> {
    const image = mxc ? await deliver("avatar download", () => this.deps.avatars.image(mxc)) : undefined;
    if (mxc && !image) {
      await this.deps.rooms.notice(roomId, notices.roomAvatarNotShown(link.muc));
      return;
    }
    const previous = await this.deps.store.mucAvatar(link.muc);
    // Remembered before the MUC announces it, so that announcement is not taken for news from XMPP.
    await this.deps.store.setMucAvatar(link.muc, image?.sha1 ?? "");
    let done = false;
    try {
      done = await this.asOwner(link, sender, roomId, "avatar", () =>
        setMucPhoto(this.deps.connection, puppetAddress(sender, this.deps.addressing), link.muc, image ? { bytes: image.bytes, mediaType: image.mediaType } : undefined, this.deps.log),
      );
    } finally {
      if (!done) await this.deps.store.setMucAvatar(link.muc, previous ?? "");
    }
  }

  /** Runs an owner's request; a refusal becomes a notice in the room. True when the MUC took it. */
  private async asOwner(link: MucLink, sender: string, roomId: string, what: string, request: () => Promise<void>): Promise<boolean> {
    try {
      await deliver(`room ${what}`, request);
      this.deps.log.info({ muc: link.muc, sender, what }, "MUC configuration changed from Matrix");
      return true;
    } catch (err) {
      if (isPassing(err)) throw err;
      const condition = requestFailure(err);
      this.deps.log.info({ muc: link.muc, sender, what, condition }, "the MUC refused a configuration change");
      await this.deps.rooms.notice(roomId, notices.roomChangeRefused(what, link.muc, condition));
      return false;
    }
  }
}
