import type { AddressingConfig } from "../core/identity.js";
import type { Link } from "../core/model.js";
import type { Logger } from "../log.js";
import type { MatrixEvent } from "../matrix/appservice-api.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { BridgeStore } from "../store/store.js";
import type { ComponentLink } from "../xmpp/component-link.js";
import { renderSubject, setMucName, setMucPhoto } from "../xmpp/muc-config.js";
import { puppetAddress } from "../xmpp/puppet-address.js";
import { requestFailure } from "../xmpp/vcard.js";
import { deliver, isPassing } from "./errors.js";
import type { MatrixAvatars } from "./matrix-avatars.js";
import { xmppIdOf } from "./matrix-to-xmpp.js";
import * as notices from "../core/notices.js";

type MucLink = Extract<Link, { muc: string }>;

const ROOM_STATE = new Set(["m.room.topic", "m.room.name", "m.room.avatar"]);

/**
 * A Matrix user's change of a bridged room's topic, name or avatar, made on XMPP by their puppet, as far
 * as the MUC lets it: the subject (XEP-0045 §8.1, for moderators or whoever the room allows), the name
 * (§10.2, owners only), the avatar (XEP-0486, owners only). A refusal is told in the room.
 */
export class RoomMetadataToXmpp {
  constructor(
    private readonly store: BridgeStore,
    private readonly rooms: MatrixRooms,
    private readonly link: ComponentLink,
    private readonly avatars: MatrixAvatars,
    private readonly puppets: {
      /** Whether the Matrix user is one the bridge stands for on XMPP. */
      bridges(matrixUser: string): boolean;
      /** The user's puppet is in the MUC, or the user has been told why not. */
      ready(link: Link, matrixUser: string, roomId: string): Promise<boolean>;
    },
    private readonly addressing: AddressingConfig,
    private readonly messageMapSeconds: number,
    private readonly log: Logger,
  ) {}

  /** True when the event was room state of this kind (whether or not it went anywhere). */
  async handle(event: MatrixEvent): Promise<boolean> {
    if (!ROOM_STATE.has(event.type) || event.state_key !== "") return false;
    const { sender, room_id: roomId, event_id: eventId } = event;
    if (!sender || !roomId || !eventId || !this.puppets.bridges(sender)) return true;
    const link = await this.store.linkByRoom(roomId);
    if (!link || link.kind === "dm") return true;
    const text = (field: string): string => (typeof event.content?.[field] === "string" ? (event.content[field] as string) : "");
    if (event.type === "m.room.topic") await this.subject(link, sender, roomId, eventId, text("topic"));
    else if (event.type === "m.room.name") await this.asOwner(link, sender, roomId, "name", () => setMucName(this.link, puppetAddress(sender, this.addressing), link.muc, text("name")));
    else await this.avatar(link, sender, roomId, text("url"));
    return true;
  }

  /**
   * The puppet sets the subject. The MUC answers a refusal with an error carrying the message's id,
   * which is why the change is recorded in the message map first.
   */
  private async subject(link: MucLink, sender: string, roomId: string, eventId: string, topic: string): Promise<void> {
    if (!(await this.puppets.ready(link, sender, roomId))) return;
    const id = xmppIdOf(eventId);
    await this.store.recordMessage({ roomId, eventId, conversation: link.muc, ids: { id }, sender }, this.messageMapSeconds);
    await deliver("subject", () => this.link.send(renderSubject(puppetAddress(sender, this.addressing), link.muc, id, topic)));
    this.log.info({ muc: link.muc, sender }, "room topic sent as the MUC subject");
  }

  /** The room's vCard photo (XEP-0486) becomes the Matrix avatar's thumbnail; no avatar removes it. */
  private async avatar(link: MucLink, sender: string, roomId: string, mxc: string): Promise<void> {
    const image = mxc ? await deliver("avatar download", () => this.avatars.image(mxc)) : undefined;
    if (mxc && !image) {
      await this.rooms.notice(roomId, notices.roomAvatarNotShown(link.muc));
      return;
    }
    const previous = await this.store.mucAvatar(link.muc);
    // Remembered before the MUC announces it, so that announcement is not taken for news from XMPP.
    await this.store.setMucAvatar(link.muc, image?.sha1 ?? "");
    let done = false;
    try {
      done = await this.asOwner(link, sender, roomId, "avatar", () =>
        setMucPhoto(this.link, puppetAddress(sender, this.addressing), link.muc, image ? { bytes: image.bytes, mediaType: image.mediaType } : undefined, this.log),
      );
    } finally {
      if (!done) await this.store.setMucAvatar(link.muc, previous ?? "");
    }
  }

  /** Runs an owner's request; a refusal becomes a notice in the room. True when the MUC took it. */
  private async asOwner(link: MucLink, sender: string, roomId: string, what: string, request: () => Promise<void>): Promise<boolean> {
    try {
      await deliver(`room ${what}`, request);
      this.log.info({ muc: link.muc, sender, what }, "MUC configuration changed from Matrix");
      return true;
    } catch (err) {
      if (isPassing(err)) throw err;
      const condition = requestFailure(err);
      this.log.info({ muc: link.muc, sender, what, condition }, "the MUC refused a configuration change");
      await this.rooms.notice(roomId, notices.roomChangeRefused(what, link.muc, condition));
      return false;
    }
  }
}
