import { AVATAR_MAX_BYTES, AvatarRejectedError, inspectAvatar, type Avatar } from "../../../core/avatars.js";
import type { Logger } from "../../../log.js";
import { MatrixMediaError, type MatrixMedia } from "../../../matrix/media.js";
import type { BridgeStore } from "../../../store/store.js";

/**
 * The size asked of the homeserver's thumbnailer: XEP-0153 wants 32 to 96 pixels a side, and
 * Synapse pre-generates a 96×96 one (or the nearest larger it has).
 */
const THUMBNAIL = { width: 96, height: 96 };

/**
 * Matrix avatars as XMPP gets them: a small thumbnail of the image (else the image itself, when it is
 * small enough), and the SHA-1 of exactly those bytes, cached per mxc URI so the hash a puppet
 * announces is known without downloading each time.
 */
export class MatrixAvatars {
  constructor(
    private readonly store: BridgeStore,
    private readonly media: Pick<MatrixMedia, "downloadBytes">,
    private readonly log: Logger,
  ) {}

  /**
   * The image for an mxc URI; undefined when there is none that is an image. Throws only what may pass
   * (the homeserver away), for the caller to retry or give up on.
   */
  async image(mxc: string): Promise<Avatar | undefined> {
    try {
      const { bytes } = await this.download(mxc);
      const avatar = await inspectAvatar(bytes);
      const cached = await this.store.matrixAvatar(mxc);
      if (cached?.sha1 !== avatar.sha1) await this.store.setMatrixAvatar(mxc, { sha1: avatar.sha1, mediaType: avatar.mediaType });
      return avatar;
    } catch (err) {
      if (err instanceof AvatarRejectedError || (err instanceof MatrixMediaError && err.permanent)) {
        this.log.info({ mxc, err }, "Matrix avatar not usable on XMPP");
        return undefined;
      }
      throw err;
    }
  }

  /** The SHA-1 of what image() gives for the mxc URI; undefined when it gives nothing. */
  async hashOf(mxc: string): Promise<string | undefined> {
    return (await this.store.matrixAvatar(mxc))?.sha1 ?? (await this.image(mxc))?.sha1;
  }

  private async download(mxc: string): Promise<{ bytes: Buffer }> {
    try {
      return await this.media.downloadBytes(mxc, AVATAR_MAX_BYTES, THUMBNAIL);
    } catch (err) {
      // No thumbnail (a type the thumbnailer does not take): the file itself, if it is small enough.
      if (err instanceof MatrixMediaError && err.permanent && err.statusCode !== 413) return this.media.downloadBytes(mxc, AVATAR_MAX_BYTES);
      throw err;
    }
  }
}
