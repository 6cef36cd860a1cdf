import xml, { type Element } from "@xmpp/xml";
import type { Logger } from "../log.js";
import { ComponentOfflineError, type ComponentConnection } from "./component-connection.js";
import { NS } from "./namespaces.js";
import { splitJid } from "./stanzas.js";

/** What to read of a MUC's archive: what came after a stanza-id, or since a time, or its last messages. */
export type ArchiveQuery = { afterId: string } | { start: number } | { last: number };

/** Messages read from an archive at once (RSM page size). */
const PAGE_SIZE = 100;
/** The most read to catch up with one MUC: a bound, should an archive never say it is complete. */
const MOST_MESSAGES = 10_000;

let queries = 0;

/**
 * A MUC's message archive (XEP-0313, with RSM paging): whether the room keeps one, and what it holds,
 * as the groupchat messages it would have sent the puppet live (with the room's stanza-id and the
 * time they were sent), oldest first.
 */
export class MucArchive {
  /** Results of the queries in flight, by queryid: the room sends them before it answers the query. */
  private readonly results = new Map<string, Element[]>();

  constructor(private readonly connection: ComponentConnection, private readonly log: Logger) {
    connection.on("stanza", (stanza: Element) => {
      const result = stanza.is("message") ? stanza.getChild("result", NS.mam) : undefined;
      const collected = result?.attrs.queryid ? this.results.get(result.attrs.queryid) : undefined;
      if (result && collected) collected.push(stanza);
    });
  }

  /** Whether the MUC keeps an archive it lets occupants read (disco#info feature urn:xmpp:mam:2). */
  async supported(muc: string): Promise<boolean> {
    try {
      const answer = await this.connection.request(xml("iq", { type: "get", to: muc, from: this.connection.domain }, xml("query", { xmlns: NS.discoInfo })));
      return answer.getChild("query", NS.discoInfo)?.getChildren("feature").some((f) => f.attrs.var === NS.mam) ?? false;
    } catch (err) {
      // With the connection down the puppet cannot enter either: tried again with it.
      if (err instanceof ComponentOfflineError) throw err;
      this.log.info({ muc, err }, "cannot tell whether the MUC keeps an archive; taken as not");
      return false;
    }
  }

  /** Reads the archive as `puppet` (a full JID in the room): every message the query names, oldest first. */
  async read(muc: string, puppet: string, query: ArchiveQuery): Promise<Element[]> {
    const messages: Element[] = [];
    let after = "afterId" in query ? query.afterId : undefined;
    for (;;) {
      const page = await this.page(muc, puppet, query, after);
      messages.push(...page.messages);
      if ("last" in query || page.complete || page.last === undefined || page.messages.length === 0 || messages.length >= MOST_MESSAGES) break;
      after = page.last;
    }
    return messages;
  }

  private async page(muc: string, puppet: string, query: ArchiveQuery, after: string | undefined): Promise<{ messages: Element[]; complete: boolean; last?: string }> {
    const queryid = `mam-${(++queries).toString(36)}-${Date.now().toString(36)}`;
    const fields = [xml("field", { var: "FORM_TYPE", type: "hidden" }, xml("value", {}, NS.mam))];
    if ("start" in query) fields.push(xml("field", { var: "start" }, xml("value", {}, new Date(query.start).toISOString())));
    // The last messages are the page before the end (XEP-0059 §2.5); the rest reads forwards.
    const set = "last" in query ? [xml("max", {}, String(query.last)), xml("before")] : [xml("max", {}, String(PAGE_SIZE)), after ? xml("after", {}, after) : undefined];
    const iq = xml("iq", { type: "set", to: muc, from: puppet }, xml("query", { xmlns: NS.mam, queryid }, xml("x", { xmlns: NS.dataForms, type: "submit" }, ...fields), xml("set", { xmlns: NS.rsm }, ...set)));
    const collected: Element[] = [];
    this.results.set(queryid, collected);
    try {
      const answer = await this.connection.request(iq, 30_000);
      const fin = answer.getChild("fin", NS.mam);
      const last = fin?.getChild("set", NS.rsm)?.getChildText("last") ?? undefined;
      const messages = collected.flatMap((stanza) => {
        const message = asLive(stanza, muc, puppet);
        return message ? [message] : [];
      });
      return { messages, complete: fin?.attrs.complete === "true", ...(last ? { last } : {}) };
    } finally {
      this.results.delete(queryid);
    }
  }
}

/** An archive result as the groupchat message the room sent live: addressed to the puppet, with the room's stanza-id and the time. */
function asLive(stanza: Element, muc: string, puppet: string): Element | undefined {
  const result = stanza.getChild("result", NS.mam);
  const forwarded = result?.getChild("forwarded", NS.forward);
  const original = forwarded?.getChild("message");
  if (!result?.attrs.id || !original?.attrs.from || splitJid(original.attrs.from).bare !== muc) return undefined;
  const message = xml("message", { ...original.attrs, to: puppet, type: "groupchat" }, ...original.getChildElements().filter((c) => !(c.name === "stanza-id" && c.getNS() === NS.stanzaId)));
  // The archive's id is the room's stanza-id (XEP-0313 §3.2); what the message carries of its own is not trusted.
  message.append(xml("stanza-id", { xmlns: NS.stanzaId, id: result.attrs.id, by: muc }));
  const delay = forwarded?.getChild("delay", NS.delay);
  if (delay && !message.getChild("delay", NS.delay)) message.append(xml("delay", { xmlns: NS.delay, stamp: delay.attrs.stamp, from: muc }));
  return message;
}
