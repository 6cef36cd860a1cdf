import { COMMANDS, helpText, parseCommand, type Command } from "../core/commands.js";
import { portalAlias, type AddressingConfig } from "../core/identity.js";
import { hasPermission, permissionOf, type PermissionLevel } from "../core/permissions.js";
import type { Logger } from "../log.js";
import type { MatrixInboundOf } from "../core/model.js";
import type { MatrixRooms } from "../matrix/rooms.js";
import type { BridgeStore } from "../store/store.js";
import type { Portals } from "./portals.js";
import { statusText, type BridgeStatus } from "./bridge-status.js";
import type { Plumbing, PlumbingRefusal } from "./plumbing.js";
import type { XmppDestination } from "./destinations/xmpp-destination.js";
import { asError } from "../core/errors.js";

/** In a bridged room, only messages with this prefix are commands; elsewhere a bare command is enough. */
export const COMMAND_PREFIX = "!xmpp ";

export interface CommandContext {
  store: BridgeStore;
  rooms: MatrixRooms;
  portals: Portals;
  plumbing: Plumbing;
  addressing: AddressingConfig;
  permissions: Readonly<Record<string, PermissionLevel>>;
  botUserId: string;
  /** The bridge's connections and queues. */
  status(): Promise<BridgeStatus>;
  log: Logger;
}

/** Linked rooms shown by one page of "list". */
const LIST_PAGE = 20;

/**
 * The bridge bot: joins rooms it is invited to by people allowed to use the bridge, and answers
 * commands there (help, join, link, unlink, list). Its handlers return true for events it took care of.
 */
export class BotCommands {
  constructor(private readonly ctx: CommandContext) {}

  async invited({ sender, roomId, target, membership }: MatrixInboundOf<"membership">): Promise<boolean> {
    if (sender === this.ctx.botUserId || target !== this.ctx.botUserId || membership !== "invite") return false;
    if (hasPermission(sender, "user", this.ctx.permissions)) {
      await this.ctx.rooms.ensureJoined(this.ctx.botUserId, roomId);
      this.ctx.log.info({ roomId, inviter: sender }, "bot joined a room it was invited to");
    }
    return true;
  }

  async message({ sender, roomId, message }: MatrixInboundOf<"message">, destination: XmppDestination | undefined): Promise<boolean> {
    if (sender === this.ctx.botUserId || message.msgtype === "m.sticker") return false;
    const link = destination?.link;
    const { body } = message;
    // DMs with ghosts are conversations, never command rooms.
    if (link?.kind === "dm") return false;
    if (link && !body.startsWith(COMMAND_PREFIX)) return false;
    const parsed = parseCommand(link ? body.slice(COMMAND_PREFIX.length) : body);
    if (!parsed) {
      // Chat in a room the bot shares with people is theirs; only something meant as a command gets an answer.
      if (link || body.startsWith("!")) await this.reply(roomId, `Unknown command. ${helpText(permissionOf(sender, this.ctx.permissions))}`);
      return true;
    }
    if ("error" in parsed) {
      await this.reply(roomId, parsed.error);
      return true;
    }
    const spec = COMMANDS[parsed.command.name];
    if (!hasPermission(sender, spec.needs, this.ctx.permissions)) {
      await this.reply(roomId, `You are not allowed to use "${parsed.command.name}" on this bridge.`);
      return true;
    }
    try {
      await this.run(parsed.command, sender, roomId);
    } catch (err) {
      this.ctx.log.warn({ roomId, command: parsed.command.name, err }, "command failed");
      await this.reply(roomId, `"${parsed.command.name}" failed: ${asError(err).message}`);
    }
    return true;
  }

  private reply(roomId: string, text: string): Promise<void> {
    return this.ctx.rooms.notice(roomId, text);
  }

  private async run(command: Command, sender: string, roomId: string): Promise<void> {
    switch (command.name) {
      case "help":
        return this.reply(roomId, helpText(permissionOf(sender, this.ctx.permissions)));
      case "list":
        return this.reply(roomId, await this.list(command.page));
      case "status":
        return this.reply(roomId, statusText(await this.ctx.status()));
      case "join": {
        const alias = portalAlias(command.muc, this.ctx.addressing);
        const existing = await this.ctx.store.linkByMuc(command.muc);
        if (!existing && !(await this.ctx.portals.onAliasQuery(alias))) return this.reply(roomId, `${command.muc} is not a MUC room the bridge can reach.`);
        const link = existing ?? (await this.ctx.store.linkByMuc(command.muc));
        if (!link) return this.reply(roomId, `${command.muc} could not be opened.`);
        await this.ctx.rooms.invite(this.ctx.botUserId, link.roomId, sender);
        return this.reply(roomId, `Invited you to ${command.muc} (${existing?.kind === "plumbed" ? link.roomId : alias}).`);
      }
      case "link":
        return this.link(command.muc, sender, roomId);
      case "unlink":
        return this.unlink(sender, roomId, command.roomId);
    }
  }

  /** Why the bot did not link or unlink, said to the user who asked. */
  private refusal(refusal: PlumbingRefusal, where: string): string {
    switch (refusal.reason) {
      case "room-bridged":
        return "This room is bridged already; unlink it first.";
      case "muc-bridged":
        return `${refusal.muc} is bridged to another room already.`;
      case "unknown-muc":
        return `${refusal.muc} is not a MUC room the bridge can reach.`;
      case "power-level":
        return `You need power level ${refusal.needed} or more in this room to do that (you have ${refusal.has}).`;
      case "not-bridged":
        return `${where} is not bridged to a MUC.`;
    }
  }

  private async link(muc: string, sender: string, roomId: string): Promise<void> {
    const outcome = await this.ctx.plumbing.link(roomId, muc, sender);
    if ("refused" in outcome) return this.reply(roomId, this.refusal(outcome.refused, "This room"));
    await this.reply(roomId, `This room is now bridged to ${muc} (${outcome.done.name}).`);
  }

  private async list(page: number): Promise<string> {
    const { links, total } = await this.ctx.plumbing.page((page - 1) * LIST_PAGE, LIST_PAGE);
    if (total === 0) return "No linked rooms.";
    const pages = Math.ceil(total / LIST_PAGE);
    if (page > pages) return `There are ${pages} page(s) of linked rooms.`;
    const lines = links.map((l) => (l.kind === "dm" ? `dm ${l.roomId}: ${l.matrixUser} ↔ ${l.xmppUser}` : `${l.kind} ${l.roomId} ↔ ${l.muc}`));
    return `${total} linked room(s), page ${page} of ${pages}:\n${lines.join("\n")}${page < pages ? `\nNext: list ${page + 1}` : ""}`;
  }

  /** Unlinks the room the command was sent in, or (an admin only) the room it names. */
  private async unlink(sender: string, roomId: string, named: string | undefined): Promise<void> {
    if (named && !hasPermission(sender, "admin", this.ctx.permissions)) return this.reply(roomId, "Only admins may unlink another room by its ID.");
    const where = named ? named : "This room";
    // An admin naming a room acts as the bridge's admin, not as a member with power there.
    const outcome = await this.ctx.plumbing.unlink(named ?? roomId, sender, named !== undefined);
    if ("refused" in outcome) return this.reply(roomId, this.refusal(outcome.refused, where));
    await this.reply(roomId, `${where} is no longer bridged to ${outcome.done.muc}.`);
  }
}
