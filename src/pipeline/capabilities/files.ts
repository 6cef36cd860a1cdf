import { asError } from "../../core/errors.js";
import { matrixContentOfFile } from "../../core/media.js";
import { toMatrixContent } from "../../core/messages.js";
import type { ChatMessage, SharedFile } from "../../core/model.js";
import * as notices from "../../core/notices.js";
import type { Logger } from "../../log.js";
import { MatrixMediaError } from "../../matrix/media.js";
import type { MatrixRooms } from "../../matrix/rooms.js";
import { RemoteFileError, type RemoteFile } from "../../media/remote-file.js";
import { isPassing } from "../errors.js";
import type { MessageOut, XmppDestination } from "../destinations/xmpp-destination.js";
import type { ShareFile } from "../file-sharing.js";

/** Downloads a file an XMPP user shared, within the configured limits. */
export type FetchSharedFile = (file: SharedFile) => Promise<RemoteFile>;
/** Uploads a downloaded file to the media repository as the ghost; returns its mxc:// URI. */
export type UploadToMatrix = (file: RemoteFile, ghost: string) => Promise<string>;

export interface FilesDeps {
  rooms: MatrixRooms;
  /** Where XMPP users can fetch a Matrix file (its url an mxc:// URI) that `sender` shares. */
  shareFile: ShareFile;
  fetchFile: FetchSharedFile;
  upload: UploadToMatrix;
  log: Logger;
}

/**
 * Files both ways. A Matrix file goes to XMPP as its link alone in the body, which is what makes XMPP
 * clients show it inline, with a caption as a message of its own. A file XMPP users share by link
 * becomes a file in the Matrix media repository. A file that cannot be bridged (refused address, too
 * big, not what it claims to be, a server refusing it) becomes a notice, so nothing is dropped
 * silently; only a server that is away is retried.
 */
export class Files {
  constructor(private readonly deps: FilesDeps) {}

  /** Sends the file `out` carries the text of; a reply keeps its reference but not its quote. */
  async toXmpp(destination: XmppDestination, sender: string, out: MessageOut, file: SharedFile): Promise<void> {
    let shared: Awaited<ReturnType<ShareFile>>;
    try {
      shared = await this.deps.shareFile(file, sender);
    } catch (err) {
      if (isPassing(err)) throw err;
      this.deps.log.warn({ roomId: destination.roomId, sender, file: file.url, err }, "a file could not be shared with XMPP");
      await this.deps.rooms.notice(destination.roomId, notices.fileNotDelivered(file.name, asError(err).message));
      return;
    }
    const caption = out.body;
    const fileMessage: MessageOut = { ...out, body: shared.url, file: { ...file, ...shared } };
    if (out.reply) fileMessage.reply = { ...out.reply, fallbackLength: 0 };
    await destination.send(sender, fileMessage);
    if (caption.trim() !== "") {
      const { reply: _reply, ...plain } = out;
      await destination.send(sender, { ...plain, id: `${out.id}.caption` });
    }
  }

  /** The Matrix contents for the files an XMPP message shares, in order; the caption goes with the last one. */
  async toMatrix(ghost: string, files: readonly SharedFile[], caption: ChatMessage | undefined): Promise<Record<string, unknown>[]> {
    const contents: Record<string, unknown>[] = [];
    for (const [i, file] of files.entries()) {
      const captionHere = i === files.length - 1 ? caption : undefined;
      try {
        contents.push(await this.bridge(ghost, file, captionHere));
      } catch (err) {
        const refusal = err instanceof RemoteFileError || (err instanceof MatrixMediaError && err.permanent);
        if (!refusal) throw err;
        this.deps.log.warn({ ghost, url: file.url, reason: err instanceof RemoteFileError ? err.reason : err.errcode, err }, "a shared file could not be bridged");
        contents.push({ msgtype: "m.notice", body: notices.fileNotBridged(file, err.message), "m.mentions": {} });
        if (captionHere && captionHere.body.trim() !== "") contents.push(toMatrixContent(captionHere));
      }
    }
    return contents;
  }

  private async bridge(ghost: string, file: SharedFile, caption: ChatMessage | undefined): Promise<Record<string, unknown>> {
    const fetched = await this.deps.fetchFile(file);
    try {
      const mxc = await this.deps.upload(fetched, ghost);
      const { width, height } = fetched;
      return matrixContentOfFile(
        { url: mxc, name: fetched.name, mediaType: fetched.mediaType, size: fetched.size, ...(width && height ? { width, height } : {}), ...(file.durationMs ? { durationMs: file.durationMs } : {}) },
        caption,
      );
    } finally {
      await fetched.dispose();
    }
  }
}
