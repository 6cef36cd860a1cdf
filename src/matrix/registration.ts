import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import type { Environment } from "../config/load.js";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { z } from "zod";
import type { BridgeConfig } from "../config/schema.js";
import { asError } from "../core/errors.js";
import { escapeRegex } from "../core/escape.js";

/** The third-party protocol the bridge answers lookups for (room directory, user search). */
export const PROTOCOL = "xmpp";

/** The appservice registration file the homeserver and the bridge share (Matrix AS API). */
const namespaceEntry = z.object({ exclusive: z.boolean(), regex: z.string() });
const registrationSchema = z.looseObject({
  id: z.string().min(1),
  url: z.string().nullable(),
  as_token: z.string().min(1),
  hs_token: z.string().min(1),
  sender_localpart: z.string().min(1),
  namespaces: z.object({
    users: z.array(namespaceEntry).default([]),
    aliases: z.array(namespaceEntry).default([]),
    rooms: z.array(namespaceEntry).default([]),
  }),
  rate_limited: z.boolean().optional(),
  protocols: z.array(z.string()).optional(),
  "de.sorunome.msc2409.push_ephemeral": z.boolean().optional(),
  receive_ephemeral: z.boolean().optional(),
});
export type Registration = z.infer<typeof registrationSchema>;

export class RegistrationError extends Error {
  constructor(message: string, readonly file: string) {
    super(message);
    this.name = "RegistrationError";
  }
}

/** The tokens the environment sets (AS_TOKEN, HS_TOKEN): they win over the registration file's. */
const tokensFrom = (env: Environment): Partial<Pick<Registration, "as_token" | "hs_token">> => ({
  ...(env.AS_TOKEN ? { as_token: env.AS_TOKEN } : {}),
  ...(env.HS_TOKEN ? { hs_token: env.HS_TOKEN } : {}),
});

/** A new registration: fresh random tokens, unless AS_TOKEN or HS_TOKEN set them. */
export function buildRegistration(config: BridgeConfig, url: string, env: Environment = process.env): Registration {
  const domain = escapeRegex(config.homeserver.domain);
  return {
    id: `xmpp-${randomBytes(8).toString("hex")}`,
    url,
    as_token: randomBytes(32).toString("base64url"),
    hs_token: randomBytes(32).toString("base64url"),
    ...tokensFrom(env),
    sender_localpart: config.bridge.botLocalpart,
    namespaces: {
      users: [{ exclusive: true, regex: `@${escapeRegex(config.bridge.userPrefix)}.*:${domain}` }],
      aliases: [{ exclusive: true, regex: `#${escapeRegex(config.bridge.aliasPrefix)}.*:${domain}` }],
      rooms: [],
    },
    rate_limited: false,
    protocols: [PROTOCOL],
    // Typing, receipts and presence: the unstable key is the one Synapse and matrix-appservice read today.
    "de.sorunome.msc2409.push_ephemeral": true,
    receive_ephemeral: true,
  };
}

/**
 * Writes the registration; an existing file is replaced only with `force`: new tokens mean the homeserver
 * must be given the new file, and file links already sent to XMPP users (signed with the as_token) stop working.
 */
export async function writeRegistration(file: string, registration: Registration, force = false): Promise<void> {
  try {
    await writeFile(file, stringifyYaml(registration), { mode: 0o600, flag: force ? "w" : "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    throw new RegistrationError(
      `${file} exists already; not replacing it. A new registration has new tokens: the homeserver must be given the new file ` +
        "and restarted, and the signed links to Matrix files already sent to XMPP users stop working. " +
        "Pass --force to replace it all the same, or -f to write another file.",
      file,
    );
  }
}

/** Reads the registration; AS_TOKEN and HS_TOKEN in the environment win over its tokens. */
export async function readRegistration(file: string, env: Environment = process.env): Promise<Registration> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, "utf8"));
  } catch (err) {
    throw new RegistrationError(`cannot read registration file ${file}: ${asError(err).message}`, file);
  }
  const result = registrationSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join(".") || "(top level)"}: ${i.message}`);
    throw new RegistrationError(`${file} is not a valid appservice registration:\n  ${problems.join("\n  ")}`, file);
  }
  return { ...result.data, ...tokensFrom(env) };
}

/** Where the registration and the config disagree: an error where the bridge cannot work, else a warning. */
export interface RegistrationMismatch {
  severity: "error" | "warning";
  message: string;
}

/** Whether one of a namespace's regexes claims the ID; Synapse anchors them at the start only. */
function claims(entries: readonly { regex: string }[], id: string): boolean | "invalid" {
  try {
    return entries.some((e) => new RegExp(`^(?:${e.regex})`).test(id));
  } catch {
    return "invalid";
  }
}

/**
 * Checks the registration against the config: the namespaces against the prefixes, the bot, and the
 * appservice URL's port against the port the bridge listens on (which may be behind a proxy: a warning).
 */
export function checkRegistration(registration: Registration, config: BridgeConfig): RegistrationMismatch[] {
  const out: RegistrationMismatch[] = [];
  const { userPrefix, aliasPrefix, botLocalpart } = config.bridge;
  const domain = config.homeserver.domain;
  const namespace = (kind: "users" | "aliases", key: string, id: string, severity: RegistrationMismatch["severity"], consequence: string): void => {
    const entries = registration.namespaces[kind];
    const claimed = claims(entries, id);
    const regexes = entries.map((e) => e.regex).join(", ") || "none";
    if (claimed === "invalid") out.push({ severity: "warning", message: `a regex of namespaces.${kind} cannot be read (${regexes}); ${key} is not checked against it` });
    else if (!claimed) out.push({ severity, message: `namespaces.${kind} (${regexes}) does not claim ${id}, which ${key} "${kind === "users" ? userPrefix : aliasPrefix}" makes: ${consequence}` });
  };
  namespace("users", "bridge.userPrefix", `@${userPrefix}someone=40example.org:${domain}`, "error", "the homeserver would not let the bridge act as XMPP users");
  namespace("aliases", "bridge.aliasPrefix", `#${aliasPrefix}room=40conference.example.org:${domain}`, "warning", "portals cannot be opened by alias");
  if (claims(registration.namespaces.users, `@alice:${domain}`) === true) {
    out.push({ severity: "warning", message: `namespaces.users claims ordinary users of ${domain} too (@alice:${domain}): the homeserver reserves them for the bridge` });
  }
  if (registration.sender_localpart !== botLocalpart) {
    out.push({ severity: "warning", message: `sender_localpart is "${registration.sender_localpart}" but bridge.botLocalpart is "${botLocalpart}": the bot is @${registration.sender_localpart}:${domain}` });
  }
  if (!registration.protocols?.includes(PROTOCOL)) {
    out.push({ severity: "warning", message: `protocols does not list "${PROTOCOL}": the homeserver will not ask the bridge for third-party lookups (MUCs in the room directory, XMPP users by JID)` });
  }
  out.push(...urlMismatch(registration.url, config.appservice.port));
  return out;
}

function urlMismatch(url: string | null, port: number): RegistrationMismatch[] {
  if (url === null) return [{ severity: "warning", message: "url is null: the homeserver sends the bridge nothing from Matrix" }];
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [{ severity: "error", message: `url "${url}" is not a URL: the homeserver cannot reach the bridge` }];
  }
  const urlPort = Number(parsed.port || (parsed.protocol === "https:" ? 443 : 80));
  if (urlPort === port) return [];
  return [{ severity: "warning", message: `url ${url} points at port ${urlPort} but the bridge listens on appservice.port ${port}; fine behind a proxy, else the homeserver cannot reach the bridge` }];
}
