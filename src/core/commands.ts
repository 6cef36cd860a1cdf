/** The bridge bot's commands: parsing and help text. Pure; src/pipeline/commands.ts carries them out. */
import type { PermissionLevel } from "./permissions.js";

export type Command =
  | { name: "help" }
  | { name: "join"; muc: string }
  | { name: "link"; muc: string }
  /** roomId: an admin's unlink of another room, by its ID. */
  | { name: "unlink"; roomId?: string }
  | { name: "list"; page: number }
  | { name: "status" };

export interface CommandSpec {
  usage: string;
  summary: string;
  needs: PermissionLevel;
}

export const COMMANDS: Readonly<Record<Command["name"], CommandSpec>> = {
  help: { usage: "help", summary: "this list", needs: "user" },
  join: { usage: "join <room@muc.service>", summary: "open the portal room of a MUC and invite you", needs: "user" },
  link: { usage: "link <room@muc.service>", summary: "bridge this room to an existing MUC (power level 50 or more here)", needs: "user" },
  unlink: { usage: "unlink [!room:server]", summary: "stop bridging this room (power level 50 or more here); admins may name another room", needs: "user" },
  list: { usage: "list [page]", summary: "the rooms this bridge links, a page at a time", needs: "admin" },
  status: { usage: "status", summary: "the bridge's connections and queues", needs: "admin" },
};

/** A Matrix room ID: "!", an opaque part, ":", a server name. */
const MATRIX_ROOM_ID = /^![^\s:]+:\S+$/;

/** A bare JID of a MUC room: a localpart and a domain, nothing else. */
const MUC_JID = /^[^\s@/"&'<>:]+@[a-z0-9.-]+$/i;

export type ParseResult = { command: Command } | { error: string } | undefined;

/** Reads a message body as a command; undefined when it is no command at all (ordinary chat). */
export function parseCommand(body: string): ParseResult {
  const [word, ...args] = body.trim().replace(/^!/, "").split(/\s+/);
  const name = word?.toLowerCase();
  if (!name || !(name in COMMANDS)) return undefined;
  switch (name) {
    case "help":
    case "status":
      return { command: { name } };
    case "list": {
      const page = args[0] === undefined ? 1 : Number(args[0]);
      if (!Number.isInteger(page) || page < 1) return { error: `usage: ${COMMANDS.list.usage}` };
      return { command: { name, page } };
    }
    case "unlink": {
      const roomId = args[0];
      if (roomId !== undefined && !MATRIX_ROOM_ID.test(roomId)) return { error: `usage: ${COMMANDS.unlink.usage}` };
      return { command: { name, ...(roomId ? { roomId } : {}) } };
    }
    case "join":
    case "link": {
      const muc = args[0]?.replace(/^xmpp:/, "").replace(/\?join$/, "");
      if (!muc || !MUC_JID.test(muc)) return { error: `usage: ${COMMANDS[name].usage}` };
      return { command: { name, muc: muc.toLowerCase() } };
    }
  }
  return undefined;
}

export function helpText(level: PermissionLevel): string {
  const lines = Object.values(COMMANDS)
    .filter((c) => level === "admin" || c.needs !== "admin")
    .map((c) => `${c.usage}: ${c.summary}`);
  return `Commands:\n${lines.join("\n")}`;
}
