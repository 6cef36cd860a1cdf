import { puppetJid, type AddressingConfig } from "../core/identity.js";

/** The resource puppets speak from, so every stanza they send has a full JID to answer to. */
export const PUPPET_RESOURCE = "matrix";

/** A Matrix user's puppet as a full JID: the address its presence and messages come from. */
export function puppetAddress(matrixUser: string, addressing: AddressingConfig): string {
  return `${puppetJid(matrixUser, addressing)}/${PUPPET_RESOURCE}`;
}
