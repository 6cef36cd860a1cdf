import { matrixContentOfFile } from "../core/media.js";
import { toMatrixContent } from "../core/messages.js";
import type { ChatMessage, SharedFile } from "../core/model.js";
import type { Logger } from "../log.js";
import { MatrixMediaError } from "../matrix/media.js";
import { RemoteFileError, type RemoteFile } from "../media/remote-file.js";
import * as notices from "../core/notices.js";

/** Downloads a file an XMPP user shared, within the configured limits. */
export type FetchSharedFile = (file: SharedFile) => Promise<RemoteFile>;
/** Uploads a downloaded file to the media repository as the ghost; returns its mxc:// URI. */
export type UploadToMatrix = (file: RemoteFile, ghost: string) => Promise<string>;

/**
 * Files XMPP users share by link become files in the Matrix media repository. A file that cannot be
 * bridged (refused address, too big, not what it claims to be, the homeserver refusing it) becomes a
 * notice with its link, so nothing is dropped silently; only a homeserver that is away is retried.
 */
export class FilesToMatrix {
  constructor(
    private readonly fetchFile: FetchSharedFile,
    private readonly upload: UploadToMatrix,
    private readonly log: Logger,
  ) {}

  /** The Matrix contents for the files, in order; the caption goes with the last one. */
  async contents(ghost: string, files: readonly SharedFile[], caption: ChatMessage | undefined): Promise<Record<string, unknown>[]> {
    const contents: Record<string, unknown>[] = [];
    for (const [i, file] of files.entries()) {
      const captionHere = i === files.length - 1 ? caption : undefined;
      try {
        contents.push(await this.bridge(ghost, file, captionHere));
      } catch (err) {
        const refusal = err instanceof RemoteFileError || (err instanceof MatrixMediaError && err.permanent);
        if (!refusal) throw err;
        this.log.warn({ ghost, url: file.url, reason: err instanceof RemoteFileError ? err.reason : err.errcode, err }, "a shared file could not be bridged");
        contents.push({ msgtype: "m.notice", body: notices.fileNotBridged(file, err.message), "m.mentions": {} });
        if (captionHere && captionHere.body.trim() !== "") contents.push(toMatrixContent(captionHere));
      }
    }
    return contents;
  }

  private async bridge(ghost: string, file: SharedFile, caption: ChatMessage | undefined): Promise<Record<string, unknown>> {
    const fetched = await this.fetchFile(file);
    try {
      const mxc = await this.upload(fetched, ghost);
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
