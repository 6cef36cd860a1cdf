import type { Avatar } from "../../../core/avatars.js";
import type { Logger } from "../../../log.js";
import type { MatrixMedia } from "../../../matrix/media.js";
import type { BridgeStore } from "../../../store/store.js";

/**
 * Avatars from XMPP going up to the homeserver: each distinct image (by SHA-1) is uploaded once and its
 * mxc URI reused, whoever shows it next, also after a restart.
 */
export class AvatarUploads {
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(
    private readonly store: BridgeStore,
    private readonly media: Pick<MatrixMedia, "uploadBytes">,
    private readonly log: Logger,
  ) {}

  /** The image's mxc URI, uploading it as `asUser` the first time it is seen. */
  mxcOf(avatar: Avatar, asUser: string): Promise<string> {
    const pending = this.inFlight.get(avatar.sha1);
    if (pending) return pending;
    const upload = this.upload(avatar, asUser).finally(() => this.inFlight.delete(avatar.sha1));
    this.inFlight.set(avatar.sha1, upload);
    return upload;
  }

  private async upload(avatar: Avatar, asUser: string): Promise<string> {
    const known = await this.store.uploadedAvatar(avatar.sha1);
    if (known) return known;
    const extension = avatar.mediaType.split("/")[1]?.replace(/\+.*$/, "") ?? "img";
    const mxc = await this.media.uploadBytes(avatar.bytes, avatar.mediaType, `avatar.${extension}`, asUser);
    await this.store.setUploadedAvatar(avatar.sha1, mxc);
    this.log.info({ sha1: avatar.sha1, mxc, bytes: avatar.bytes.length, mediaType: avatar.mediaType }, "avatar uploaded");
    return mxc;
  }
}
