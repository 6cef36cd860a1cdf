import type { AddressingConfig } from "../../core/identity.js";
import type { Logger } from "../../log.js";
import type { MatrixRooms } from "../../matrix/rooms.js";
import type { BridgeStore } from "../../store/store.js";
import type { ComponentConnection } from "../../xmpp/component-connection.js";
import type { Puppets } from "../puppets.js";

/** What every capability works with: the store, both sides, and the puppets that speak for Matrix users on XMPP. */
export interface CapabilityDeps {
  store: BridgeStore;
  rooms: MatrixRooms;
  connection: ComponentConnection;
  puppets: Puppets;
  addressing: AddressingConfig;
  botUserId: string;
  /** How long message map entries (and reactions) are kept. */
  messageMapSeconds: number;
  log: Logger;
}
