// @xmpp/client ships no TypeScript types: the part the tests use.
declare module "@xmpp/client" {
  import type { EventEmitter } from "node:events";
  import xml, { type Element } from "@xmpp/xml";
  export { xml };
  export interface Client extends EventEmitter {
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(...el: Element[]): Promise<void>;
    write(text: string): Promise<void>;
    reconnect: { stop(): void };
    parser: unknown;
    _onData(data: Buffer): void;
    iqCaller: { request(el: Element, timeout?: number): Promise<Element> };
    iqCallee: { get(ns: string, name: string, handler: (ctx: { stanza: Element }) => Element | undefined): void };
  }
  export function client(options: { service: string; domain: string; username: string; password: string; resource?: string }): Client;
}
