/**
 * Identity mapping between Matrix and XMPP addresses. Pure: no I/O and no dependencies, so every
 * rule here can be checked exhaustively by the property tests. The contract is described for
 * users in docs/addressing.md.
 *
 *   ghost   XMPP user  -> Matrix user  @<userPrefix><encodeMatrixLocalpart(bare JID)>:<homeserver>
 *   puppet  Matrix user -> XMPP user   <escapeJidLocalpart(fold(localpart%server))>@<component>
 *   portal  MUC room   -> Matrix alias #<aliasPrefix><encodeMatrixLocalpart(room JID)>:<homeserver>
 *
 * Every forward mapping is injective and every inverse accepts only the exact (canonical) output
 * of its forward mapping, so an address has one spelling and an inverse can be trusted as a key.
 */
import { createHash } from "node:crypto";

export interface AddressingConfig {
  homeserverDomain: string;
  componentDomain: string;
  userPrefix: string;
  aliasPrefix: string;
}

export class AddressError extends Error {
  constructor(
    message: string,
    readonly input: string,
  ) {
    super(`${message}: ${JSON.stringify(input)}`);
    this.name = "AddressError";
  }
}

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const byteLength = (s: string): number => utf8.encode(s).length;

/** RFC 7622 caps each JID part at 1023 bytes; the Matrix spec caps IDs and aliases at 255. */
const MAX_JID_PART_BYTES = 1023;
const MAX_MATRIX_ID_BYTES = 255;

// Lone surrogates cannot be encoded as UTF-8, so they would not survive any round trip.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

// ---------------------------------------------------------------------------------------------
// Matrix localpart encoding: the spec's bijective "Mapping from other character sets".

const MATRIX_KEPT = /^[a-z0-9.\-/]$/;

export function encodeMatrixLocalpart(s: string): string {
  if (LONE_SURROGATE.test(s)) throw new AddressError("not well-formed Unicode", s);
  let out = "";
  for (const byte of utf8.encode(s)) {
    const ch = String.fromCharCode(byte);
    if (MATRIX_KEPT.test(ch)) out += ch;
    else if (byte >= 0x41 && byte <= 0x5a) out += "_" + ch.toLowerCase();
    else if (ch === "_") out += "__";
    else out += "=" + byte.toString(16).padStart(2, "0");
  }
  return out;
}

export function decodeMatrixLocalpart(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (ch === "_") {
      const next = s[i + 1] ?? "";
      if (next === "_") bytes.push(0x5f);
      else if (/^[a-z]$/.test(next)) bytes.push(next.toUpperCase().charCodeAt(0));
      else throw new AddressError("invalid '_' escape in Matrix localpart", s);
      i++;
    } else if (ch === "=") {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) throw new AddressError("invalid '=' escape in Matrix localpart", s);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (MATRIX_KEPT.test(ch)) {
      bytes.push(ch.charCodeAt(0));
    } else {
      throw new AddressError("character not allowed in an encoded Matrix localpart", s);
    }
  }
  let decoded: string;
  try {
    decoded = strictUtf8.decode(new Uint8Array(bytes));
  } catch {
    throw new AddressError("encoded Matrix localpart is not UTF-8", s);
  }
  // "=61" would decode to "a" like "a" does; one spelling per string keeps IDs usable as keys.
  if (encodeMatrixLocalpart(decoded) !== s) throw new AddressError("non-canonical Matrix localpart encoding", s);
  return decoded;
}

// ---------------------------------------------------------------------------------------------
// XEP-0106 JID escaping.

const CODE_OF_CHAR = new Map(
  Object.entries({ " ": "20", '"': "22", "&": "26", "'": "27", "/": "2f", ":": "3a", "<": "3c", ">": "3e", "@": "40", "\\": "5c" }),
);
const CHAR_OF_CODE = new Map([...CODE_OF_CHAR].map(([ch, code]) => [code, ch]));

export function escapeJidLocalpart(s: string): string {
  if (s.startsWith(" ") || s.endsWith(" ")) {
    throw new AddressError("XEP-0106 forbids a localpart that starts or ends with a space", s);
  }
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    // XEP-0106: a backslash is escaped only where it would otherwise be read as an escape.
    const code = ch === "\\" && !CHAR_OF_CODE.has(s.slice(i + 1, i + 3)) ? undefined : CODE_OF_CHAR.get(ch);
    out += code === undefined ? ch : "\\" + code;
  }
  return out;
}

export function unescapeJidLocalpart(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    const unescaped = ch === "\\" ? CHAR_OF_CODE.get(s.slice(i + 1, i + 3)) : undefined;
    if (unescaped === undefined) {
      out += ch;
    } else {
      out += unescaped;
      i += 2;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Parsing.

// Historical Matrix localparts may hold any printable ASCII but ':'; current ones are a subset.
const MATRIX_LOCALPART = /^[\x21-\x39\x3b-\x7e]+$/;
// Spec grammar: hostname [":" port], hostname = IPv4 / "[" IPv6 "]" / dns-name.
const MATRIX_SERVER_NAME = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[0-9A-Za-z.-]{1,255})(?::[0-9]{1,5})?$/;

/** The localpart of a Matrix user ID as written, unchecked ("alice" for "@alice:matrix.test"): a name of last resort. */
export const matrixLocalpart = (userId: string): string => userId.slice(1).split(":")[0] ?? userId;

export function parseMatrixUserId(userId: string): { localpart: string; server: string } {
  const colon = userId.indexOf(":");
  if (!userId.startsWith("@") || colon < 0) throw new AddressError("not a Matrix user ID", userId);
  const localpart = userId.slice(1, colon);
  const server = userId.slice(colon + 1);
  if (!MATRIX_LOCALPART.test(localpart)) throw new AddressError("invalid Matrix user ID localpart", userId);
  if (!MATRIX_SERVER_NAME.test(server)) throw new AddressError("invalid Matrix server name", userId);
  if (userId.length > MAX_MATRIX_ID_BYTES) throw new AddressError("Matrix user ID longer than 255 bytes", userId);
  return { localpart, server };
}

// Control characters are never valid in any JID part; whitespace only inside a resource.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;
const WHITESPACE = /\s/u;
const LOCALPART_FORBIDDEN = /["&'/:<>@]/;
const DOMAIN_LABEL = /^(?:[A-Za-z0-9-]|[^\x00-\x7f])+$/u;
const IP_LITERAL = /^\[[0-9A-Fa-f:.]{2,45}\]$/;

function checkJidPart(part: string, what: string, jid: string): void {
  if (part === "") throw new AddressError(`empty JID ${what}`, jid);
  if (byteLength(part) > MAX_JID_PART_BYTES) throw new AddressError(`JID ${what} longer than 1023 bytes`, jid);
  if (CONTROL.test(part) || LONE_SURROGATE.test(part)) throw new AddressError(`invalid character in JID ${what}`, jid);
}

/** A JID cut into its bare part (lowercased, as XMPP compares them) and its resource. */
export interface Address {
  bare: string;
  resource: string | undefined;
}

/** Cuts a JID at its first "/" without checking it; parseBareJid checks. */
export function splitJid(jid: string): Address {
  const slash = jid.indexOf("/");
  return slash < 0 ? { bare: jid.toLowerCase(), resource: undefined } : { bare: jid.slice(0, slash).toLowerCase(), resource: jid.slice(slash + 1) };
}

/** The part of a JID before its "@", unchecked ("bob" for "bob@xmpp.test"); a domain alone is its own. */
export const jidLocalpart = (jid: string): string => jid.split("@")[0] ?? jid;

/** Splits a JID per RFC 7622 §3.2 (the resource may be present despite the name). */
export function parseBareJid(jid: string): { local: string | undefined; domain: string; resource: string | undefined } {
  const slash = jid.indexOf("/");
  const bare = slash < 0 ? jid : jid.slice(0, slash);
  const resource = slash < 0 ? undefined : jid.slice(slash + 1);
  const at = bare.indexOf("@");
  const local = at < 0 ? undefined : bare.slice(0, at);
  const domain = bare.slice(at + 1);

  if (local !== undefined) {
    checkJidPart(local, "localpart", jid);
    if (WHITESPACE.test(local) || LOCALPART_FORBIDDEN.test(local)) {
      throw new AddressError("invalid character in JID localpart", jid);
    }
  }
  checkJidPart(domain, "domain", jid);
  if (WHITESPACE.test(domain) || (!IP_LITERAL.test(domain) && !domain.split(".").every((label) => DOMAIN_LABEL.test(label)))) {
    throw new AddressError("invalid JID domain", jid);
  }
  if (resource !== undefined) checkJidPart(resource, "resource", jid);
  return { local, domain, resource };
}

// ---------------------------------------------------------------------------------------------
// Ghosts: XMPP users on the Matrix side.

const sameDomain = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

function lowercaseBareJid(jid: string, cfg: AddressingConfig): string {
  const { domain, resource } = parseBareJid(jid);
  if (resource !== undefined) throw new AddressError("expected a bare JID, got a full JID", jid);
  // The component domain is the bridge's own; mapping it back would make every message echo.
  if (sameDomain(domain, cfg.componentDomain)) throw new AddressError("would bridge a puppet back", jid);
  return jid.toLowerCase();
}

function buildMatrixId(sigil: "@" | "#", localpart: string, cfg: AddressingConfig, input: string): string {
  const id = `${sigil}${localpart}:${cfg.homeserverDomain}`;
  if (byteLength(id) > MAX_MATRIX_ID_BYTES) throw new AddressError("Matrix ID would exceed 255 bytes", input);
  return id;
}

export function ghostUserId(bareJid: string, cfg: AddressingConfig): string {
  const jid = lowercaseBareJid(bareJid, cfg);
  return buildMatrixId("@", cfg.userPrefix + encodeMatrixLocalpart(jid), cfg, bareJid);
}

/**
 * The ghost of a MUC occupant whose real JID the room hides (an anonymous room): keyed by the room and
 * the occupant's stable key (occupant-id, XEP-0421, else the nick), so it stays one ghost per person.
 */
export function occupantGhostUserId(mucJid: string, occupantKey: string, cfg: AddressingConfig): string {
  const room = lowercaseBareJid(mucJid, cfg);
  if (occupantKey.length === 0) throw new AddressError("an occupant key cannot be empty", mucJid);
  const userId = `@${cfg.userPrefix}${encodeMatrixLocalpart(`${room}/${occupantKey}`)}:${cfg.homeserverDomain}`;
  if (byteLength(userId) <= MAX_MATRIX_ID_BYTES) return userId;
  // A nick may be up to 1023 bytes, a Matrix ID 255: a long one is known by its digest instead (still one ghost per nick).
  const digest = createHash("sha256").update(occupantKey).digest("hex").slice(0, 32);
  return buildMatrixId("@", cfg.userPrefix + encodeMatrixLocalpart(`${room}/#${digest}`), cfg, `${mucJid}/${occupantKey}`);
}

/** The ghost of a MUC occupant: the real JID's own ghost when the room reveals it, else the occupant's. */
export function ghostOfOccupant(occupant: { muc: string; occupantKey: string; realJid?: string }, cfg: AddressingConfig): string {
  return occupant.realJid ? ghostUserId(occupant.realJid, cfg) : occupantGhostUserId(occupant.muc, occupant.occupantKey, cfg);
}

/** True for every user ID in the bridge's exclusive ghost namespace, decodable or not. */
export function isGhost(userId: string, cfg: AddressingConfig): boolean {
  try {
    const { localpart, server } = parseMatrixUserId(userId);
    return server === cfg.homeserverDomain && localpart.startsWith(cfg.userPrefix);
  } catch {
    return false;
  }
}

export function jidOfGhost(userId: string, cfg: AddressingConfig): string | undefined {
  if (!isGhost(userId, cfg)) return undefined;
  try {
    const encoded = parseMatrixUserId(userId).localpart.slice(cfg.userPrefix.length);
    const jid = decodeMatrixLocalpart(encoded);
    return ghostUserId(jid, cfg) === userId ? jid : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Puppets: Matrix users on the XMPP side.
//
// JID localparts are case-insensitive, so uppercase (historical localparts, server names) is
// folded reversibly before XEP-0106 escaping: "A" -> "^a" and "^" -> "^^". "^" is not in the
// current Matrix localpart grammar, so current IDs are never touched by the fold.

const foldCase = (s: string): string => s.replace(/[A-Z^]/g, (ch) => (ch === "^" ? "^^" : "^" + ch.toLowerCase()));

function unfoldCase(s: string): string | undefined {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i] as string;
    if (ch !== "^") {
      out += ch;
      continue;
    }
    const next = s[++i] ?? "";
    if (next === "^") out += "^";
    else if (/^[a-z]$/.test(next)) out += next.toUpperCase();
    else return undefined;
  }
  return out;
}

export function puppetJid(userId: string, cfg: AddressingConfig): string {
  const { localpart, server } = parseMatrixUserId(userId);
  if (isGhost(userId, cfg)) throw new AddressError("would bridge a ghost back", userId);
  if (localpart.startsWith("#") || localpart.startsWith("!")) throw new AddressError("a localpart starting with # or ! would name a gateway room", userId);
  // Server names cannot contain '%', so the last '%' always separates the two halves.
  const local = escapeJidLocalpart(foldCase(`${localpart}%${server}`));
  if (byteLength(local) > MAX_JID_PART_BYTES) throw new AddressError("puppet localpart would exceed 1023 bytes", userId);
  return `${local}@${cfg.componentDomain.toLowerCase()}`;
}

/** True for every JID with a localpart on the component domain, decodable or not. */
export function isPuppet(jid: string, cfg: AddressingConfig): boolean {
  try {
    const { local, domain } = parseBareJid(jid);
    return local !== undefined && sameDomain(domain, cfg.componentDomain);
  } catch {
    return false;
  }
}

export function userIdOfPuppet(jid: string, cfg: AddressingConfig): string | undefined {
  if (!isPuppet(jid, cfg)) return undefined;
  // Nodeprep casefolds localparts, so "Alice%…" and "alice%…" are the same XMPP entity.
  const local = (parseBareJid(jid).local ?? "").toLowerCase();
  // A gateway room's, not a puppet's (see gatewayRoomJid).
  if (local.startsWith("#") || local.startsWith("!")) return undefined;
  const folded = unfoldCase(unescapeJidLocalpart(local));
  const split = folded?.lastIndexOf("%") ?? -1;
  if (folded === undefined || split < 0) return undefined;
  const userId = `@${folded.slice(0, split)}:${folded.slice(split + 1)}`;
  try {
    return puppetJid(userId, cfg) === `${local}@${cfg.componentDomain.toLowerCase()}` ? userId : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Portals: MUC rooms as Matrix room aliases.

export function portalAlias(mucJid: string, cfg: AddressingConfig): string {
  const room = lowercaseBareJid(mucJid, cfg);
  if (!room.includes("@")) throw new AddressError("a MUC room JID needs a localpart", mucJid);
  return buildMatrixId("#", cfg.aliasPrefix + encodeMatrixLocalpart(room), cfg, mucJid);
}

/**
 * Accepts the canonical alias and the typed form with a literal JID
 * (#_xmpp_room@conference.example:hs), which encoded aliases never contain since '@' is "=40".
 */
export function mucOfPortalAlias(alias: string, cfg: AddressingConfig): string | undefined {
  const colon = alias.indexOf(":");
  if (!alias.startsWith("#") || colon < 0 || alias.slice(colon + 1) !== cfg.homeserverDomain) return undefined;
  const localpart = alias.slice(1, colon);
  if (!localpart.startsWith(cfg.aliasPrefix)) return undefined;
  const rest = localpart.slice(cfg.aliasPrefix.length);
  try {
    if (rest.includes("@")) {
      const room = rest.toLowerCase();
      portalAlias(room, cfg);
      return room;
    }
    const room = decodeMatrixLocalpart(rest);
    return portalAlias(room, cfg) === alias ? room : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Gateway rooms: Matrix rooms as MUCs on the component domain, for XMPP users.

/** A Matrix room as XMPP users name it: by an alias ("#lobby:matrix.test") or by its ID ("!abc:matrix.test"). */
export type RoomRef = { kind: "alias"; alias: string } | { kind: "id"; roomId: string };

const MATRIX_ROOM_REF = /^([#!])([^:]+):(.+)$/;

/**
 * The gateway room's JID: the alias or room ID's sigil and localpart, "%", its server, case-folded
 * and XEP-0106-escaped as puppets are ("#lobby%matrix.test@matrix.xmpp.test"). A puppet's localpart
 * never starts with "#" or "!", so the two never meet.
 */
export function gatewayRoomJid(ref: string, cfg: AddressingConfig): string {
  const parts = MATRIX_ROOM_REF.exec(ref);
  if (!parts || !MATRIX_SERVER_NAME.test(parts[3] as string) || !MATRIX_LOCALPART.test(parts[2] as string)) throw new AddressError("not a room alias or room ID", ref);
  const local = escapeJidLocalpart(foldCase(`${parts[1]}${parts[2]}%${parts[3]}`));
  if (byteLength(local) > MAX_JID_PART_BYTES) throw new AddressError("gateway room localpart would exceed 1023 bytes", ref);
  return `${local}@${cfg.componentDomain.toLowerCase()}`;
}

/** The Matrix room a gateway room's JID names; undefined for any other JID (a puppet's, say). */
export function roomRefOfGatewayJid(jid: string, cfg: AddressingConfig): RoomRef | undefined {
  if (!isPuppet(jid, cfg)) return undefined;
  const local = (parseBareJid(jid).local ?? "").toLowerCase();
  if (!local.startsWith("#") && !local.startsWith("!")) return undefined;
  const folded = unfoldCase(unescapeJidLocalpart(local));
  const split = folded?.lastIndexOf("%") ?? -1;
  if (folded === undefined || split < 0) return undefined;
  const ref = `${folded.slice(0, split)}:${folded.slice(split + 1)}`;
  try {
    if (gatewayRoomJid(ref, cfg) !== `${local}@${cfg.componentDomain.toLowerCase()}`) return undefined;
  } catch {
    return undefined;
  }
  return ref.startsWith("#") ? { kind: "alias", alias: ref } : { kind: "id", roomId: ref };
}
