import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { z } from "zod";
import type { BridgeConfig } from "../config/schema.js";
import { asError } from "../core/errors.js";
import { escapeRegex } from "../core/escape.js";

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

export function buildRegistration(config: BridgeConfig, url: string): Registration {
  const domain = escapeRegex(config.homeserver.domain);
  return {
    id: `xmpp-${randomBytes(8).toString("hex")}`,
    url,
    as_token: randomBytes(32).toString("base64url"),
    hs_token: randomBytes(32).toString("base64url"),
    sender_localpart: config.bridge.botLocalpart,
    namespaces: {
      users: [{ exclusive: true, regex: `@${escapeRegex(config.bridge.userPrefix)}.*:${domain}` }],
      aliases: [{ exclusive: true, regex: `#${escapeRegex(config.bridge.aliasPrefix)}.*:${domain}` }],
      rooms: [],
    },
    rate_limited: false,
    protocols: ["xmpp"],
    // Typing, receipts and presence: the unstable key is the one Synapse and matrix-appservice read today.
    "de.sorunome.msc2409.push_ephemeral": true,
    receive_ephemeral: true,
  };
}

export async function writeRegistration(file: string, registration: Registration): Promise<void> {
  await writeFile(file, stringifyYaml(registration), { mode: 0o600 });
}

export async function readRegistration(file: string): Promise<Registration> {
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
  return result.data;
}
