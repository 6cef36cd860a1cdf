import type { BridgeConfig } from "../config/schema.js";
import type { FileUrls } from "../core/file-urls.js";
import type { AddressingConfig } from "../core/identity.js";
import type { SharedFile } from "../core/model.js";
import type { Logger } from "../log.js";
import type { MatrixMedia } from "../matrix/media.js";
import { fetchRemoteFile, type RemoteFile } from "../media/remote-file.js";
import { shareBySignedUrl, shareByUpload, uploadServiceFinder, type ShareFile } from "../pipeline/file-sharing.js";
import type { HealthCheck } from "../http/status-server.js";
import type { Homeserver } from "../matrix/homeserver.js";
import type { BridgeStore } from "../store/store.js";
import type { ComponentConnection } from "../xmpp/component-connection.js";
import { puppetAddress } from "../xmpp/puppet-address.js";
import { readVcard, requestVcard, type VcardProfile } from "../xmpp/vcard.js";

/** The adapters' settings from the config, and the small functions the pipeline gets from them. */

export const addressingOf = (config: BridgeConfig): AddressingConfig => ({
  homeserverDomain: config.homeserver.domain,
  componentDomain: config.xmpp.domain,
  userPrefix: config.bridge.userPrefix,
  aliasPrefix: config.bridge.aliasPrefix,
});

/** How Matrix files reach XMPP users: by signed file URL, or uploaded to the XMPP server (XEP-0363). */
export function fileSharing(config: BridgeConfig, media: MatrixMedia, connection: ComponentConnection, fileUrls: FileUrls, addressing: AddressingConfig): ShareFile {
  if (config.media.matrixToXmpp === "link") return shareBySignedUrl(fileUrls);
  return shareByUpload({
    media,
    connection,
    // The component's domain is a subdomain of the XMPP server's, whose services it lists.
    service: uploadServiceFinder(connection, config.media.uploadService, config.xmpp.domain.split(".").slice(1).join(".")),
    puppetOf: (matrixUser) => puppetAddress(matrixUser, addressing),
    maxBytes: config.media.maxBytes,
    timeoutMs: config.media.timeoutSeconds * 1000,
  });
}

/** Files XMPP users share by URL, fetched within the configured limits. */
export function fetchSharedFile(config: BridgeConfig): (file: SharedFile) => Promise<RemoteFile> {
  const limits = { maxBytes: config.media.maxBytes, timeoutMs: config.media.timeoutSeconds * 1000, maxRedirects: config.media.maxRedirects, allowedHosts: config.media.allowedHosts };
  return (file) => fetchRemoteFile(file.url, limits, file.mediaType ? { mediaType: file.mediaType } : undefined);
}

/** The room's vCard, where its avatar is (XEP-0486). */
export const roomProfileFrom =
  (connection: ComponentConnection, log: Logger) =>
  async (muc: string): Promise<VcardProfile | undefined> => {
    const vcard = await requestVcard(connection, muc, log);
    return vcard ? readVcard(vcard) : undefined;
  };

/** What the outbox waits for after a delivery to XMPP: the server has read everything written until then. */
export const writesConfirmed = (connection: ComponentConnection) => (): (() => Promise<void>) => {
  const mark = connection.writeMark();
  return () => connection.confirmWritten(mark);
};

/** The parts the bridge cannot work without, each checked live: Redis, the component connection, the homeserver. */
export const healthChecks = (homeserver: Homeserver, store: BridgeStore, connection: ComponentConnection): HealthCheck[] => [
  { name: "redis", check: async () => (await store.ping(), true) },
  { name: "xmpp", check: async () => connection.isOnline() },
  { name: "homeserver", check: () => homeserver.isUp() },
];
