// The xmpp.js packages ship no TypeScript types: these declare the part of their API the bridge uses.

declare module "@xmpp/xml" {
  export type Node = Element | string;
  export class Element {
    constructor(name: string, attrs?: Record<string, string | undefined>);
    name: string;
    attrs: Record<string, string | undefined>;
    children: Node[];
    parent: Element | null;
    is(name: string, xmlns?: string): boolean;
    getNS(): string | undefined;
    getChild(name: string, xmlns?: string): Element | undefined;
    getChildren(name: string, xmlns?: string): Element[];
    getChildByAttr(attr: string, value: string, xmlns?: string, recursive?: boolean): Element | undefined;
    getChildText(name: string, xmlns?: string): string | null;
    getText(): string;
    getChildElements(): Element[];
    append(...nodes: Node[]): Element;
    toString(): string;
  }
  export default function xml(
    name: string,
    attrs?: Record<string, string | undefined> | null,
    ...children: (Node | Node[] | undefined | null | false)[]
  ): Element;
}

declare module "@xmpp/component" {
  import type { Element } from "@xmpp/xml";
  import type { EventEmitter } from "node:events";

  export interface IqContext {
    stanza: Element;
    from: { toString(): string } | null;
    to: { toString(): string } | null;
    id: string;
    element: Element;
  }
  /** An element is the result's payload, true an empty result, undefined service-unavailable. */
  type IqHandler = (ctx: IqContext) => Element | true | undefined | Promise<Element | true | undefined>;

  export interface Component extends EventEmitter {
    status: string;
    start(): Promise<unknown>;
    stop(): Promise<unknown>;
    send(...elements: Element[]): Promise<void>;
    /** Where every byte of the stream is written. */
    write(data: string): Promise<void>;
    reconnect: EventEmitter & { delay: number; start(): void; stop(): void };
    iqCallee: { get(ns: string, name: string, handler: IqHandler): void; set(ns: string, name: string, handler: IqHandler): void };
    iqCaller: { request(el: Element, timeout?: number): Promise<Element> };
  }
  export function component(options: { service: string; domain: string; password: string }): Component;
}
