import type { AddressingConfig } from "../../core/identity.js";
import type { Logger } from "../../log.js";
import type { MatrixRooms } from "../../matrix/rooms.js";
import type { BridgeStore } from "../../store/store.js";
import type { ComponentConnection } from "../../xmpp/component-connection.js";

/**
 * What every capability works with: the store and both sides. Where an event goes, and as whom, is
 * its destination's business: capabilities take it with the event (pipeline/destinations).
 */
export interface CapabilityDeps {
  store: BridgeStore;
  rooms: MatrixRooms;
  connection: ComponentConnection;
  addressing: AddressingConfig;
  botUserId: string;
  /** How long message map entries (and reactions) are kept. */
  messageMapSeconds: number;
  log: Logger;
}
