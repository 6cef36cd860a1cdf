/** A user of the test XMPP server, logged in with the real @xmpp/client library. */
import { client, xml } from "@xmpp/client";
import { stack, stackCommand, sleep, pollFor } from "./harness.js";

type Element = ReturnType<typeof xml>;

export class XmppTestClient {
  readonly stanzas: Element[] = [];

  private constructor(readonly jid: string, private readonly xmpp: ReturnType<typeof client>, private readonly resource: string) {
    xmpp.on("stanza", (s: Element) => this.stanzas.push(s));
    xmpp.on("error", () => undefined);
    // After a server closes the stream over a hostile write (ejabberd does), @xmpp/connection still
    // feeds the bytes that follow to the parser it has let go of, and throws from a socket listener.
    const onData = xmpp._onData.bind(xmpp);
    xmpp._onData = (data) => {
      if (xmpp.parser) onData(data);
    };
  }

  /** Features a modern client advertises (disco#info); a test may log in an older client with fewer. */
  static readonly MODERN_FEATURES = [
    "http://jabber.org/protocol/disco#info",
    "urn:xmpp:reactions:0",
    "urn:xmpp:chat-markers:0",
    "http://jabber.org/protocol/chatstates",
    "urn:xmpp:message-correct:0",
    "urn:xmpp:reply:0",
    "urn:xmpp:message-retract:1",
  ];

  static async login(localpart: string, password = "test-password", features = XmppTestClient.MODERN_FEATURES, resource = "test"): Promise<XmppTestClient> {
    await stackCommand("xmpp-user", localpart, password);
    const xmpp = client({
      service: `xmpp://127.0.0.1:${stack.c2sPort}`,
      domain: stack.xmppDomain,
      username: localpart,
      password,
      resource,
    });
    const c = new XmppTestClient(`${localpart}@${stack.xmppDomain}`, xmpp, resource);
    xmpp.iqCallee.get("http://jabber.org/protocol/disco#info", "query", () =>
      xml("query", { xmlns: "http://jabber.org/protocol/disco#info" }, xml("identity", { category: "client", type: "pc" }), ...features.map((v) => xml("feature", { var: v }))),
    );
    await xmpp.start();
    await xmpp.send(xml("presence"));
    return c;
  }

  get fullJid(): string {
    return `${this.jid}/${this.resource}`;
  }

  /** Calls the listener with every stanza as it arrives (the benchmark times arrivals with it). */
  onStanza(listener: (s: Element) => void): void {
    this.xmpp.on("stanza", listener);
  }

  send(el: Element): Promise<void> {
    return this.xmpp.send(el);
  }

  /** Writes raw text to the stream, as a broken or hostile client would: the server may refuse it, or close the stream. */
  sendRaw(text: string): Promise<void> {
    // A stream the server closes over it stays closed: reconnecting would outlive the test.
    this.xmpp.reconnect.stop();
    return this.xmpp.write(text);
  }

  iq(el: Element, timeoutMs = 10_000): Promise<Element> {
    return this.xmpp.iqCaller.request(el, timeoutMs);
  }

  /** Uploads a file to the server's upload service (XEP-0363) as a client does; returns its GET URL. */
  async upload(bytes: Buffer, name: string, mediaType: string): Promise<string> {
    const slot = await this.iq(
      xml("iq", { type: "get", to: `upload.${stack.xmppDomain}` }, xml("request", { xmlns: "urn:xmpp:http:upload:0", filename: name, size: String(bytes.length), "content-type": mediaType })),
    );
    const put = slot.getChild("slot")?.getChild("put");
    const get = slot.getChild("slot")?.getChild("get")?.attrs.url as string | undefined;
    if (!put || !get) throw new Error(`no upload slot: ${slot.toString()}`);
    const headers: Record<string, string> = { "content-type": mediaType };
    for (const h of put.getChildren("header")) headers[String(h.attrs.name).toLowerCase()] = h.getText();
    const res = await fetch(String(put.attrs.url), { method: "PUT", headers, body: new Uint8Array(bytes) });
    if (!res.ok) throw new Error(`upload PUT: ${res.status}`);
    return get;
  }

  waitFor(predicate: (s: Element) => boolean, what: string, timeoutMs = 20_000): Promise<Element> {
    return pollFor(() => this.stanzas.find(predicate), () => sleep(50), `${this.jid} timed out waiting for ${what}`, timeoutMs);
  }

  async stop(): Promise<void> {
    await this.xmpp.stop().catch(() => undefined);
  }
}

export { xml };
