import { Counter, type Registry } from "prom-client";
import { RemoteFileError } from "../media/remote-file.js";
import { FileShareError } from "../media/file-share-error.js";
import { UploadSlotError } from "../xmpp/http-upload.js";

export type FileDirection = "to_matrix" | "to_xmpp";

/** A failure the bridge chose (a guard refused the file) rather than one that happened to it. */
const isRefusal = (err: unknown): boolean => err instanceof RemoteFileError || err instanceof FileShareError || err instanceof UploadSlotError;

/**
 * Counts file transfers by direction and outcome (`bridge_file_transfers_total`), so an admin sees
 * files refused by the guards apart from transfers that failed, by wrapping the step that moves them.
 */
export function fileTransferCounter(registry: Registry): <A extends unknown[], R>(direction: FileDirection, transfer: (...args: A) => Promise<R>) => (...args: A) => Promise<R> {
  const counter = new Counter({
    name: "bridge_file_transfers_total",
    help: "Files between the networks: to_matrix counts downloads of files XMPP users shared, to_xmpp the links or uploads made for Matrix files; outcome transferred, refused (by a guard or the XMPP server) or failed",
    labelNames: ["direction", "outcome"],
    registers: [registry],
  });
  return (direction, transfer) =>
    async (...args) => {
      try {
        const result = await transfer(...args);
        counter.inc({ direction, outcome: "transferred" });
        return result;
      } catch (err) {
        counter.inc({ direction, outcome: isRefusal(err) ? "refused" : "failed" });
        throw err;
      }
    };
}
