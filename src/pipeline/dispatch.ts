import type { MatrixInbound, MatrixInboundKind, MatrixInboundOf, XmppEvent, XmppEventKind, XmppEventOf } from "../core/model.js";
import type { Logger } from "../log.js";
import type { MatrixDestination } from "./destinations/matrix-destination.js";
import type { XmppDestination } from "./destinations/xmpp-destination.js";

/**
 * Takes one event and where it goes on the other side (undefined when its room or MUC is not
 * bridged); returns true when it took the event, so the handlers registered after it for that kind do not see it.
 */
export type Handler<E, D> = (event: E, destination: D | undefined) => Promise<boolean | void>;
export type MatrixHandler<K extends MatrixInboundKind> = Handler<MatrixInboundOf<K>, XmppDestination>;
export type XmppHandler<K extends XmppEventKind> = Handler<XmppEventOf<K>, MatrixDestination>;

/** How an event finds its destination: once per event, before any handler runs. */
export interface Destinations {
  ofMatrixEvent(event: MatrixInbound): Promise<XmppDestination | undefined>;
  ofXmppEvent(event: XmppEvent): Promise<MatrixDestination | undefined>;
}

/**
 * The table from event kind to the capabilities that handle it, for both directions. Handlers of one
 * kind run in the order they were registered: that order is the whole of the routing.
 */
export class Dispatch {
  private readonly fromMatrix = new Map<MatrixInboundKind, Handler<never, XmppDestination>[]>();
  private readonly fromXmpp = new Map<XmppEventKind, Handler<never, MatrixDestination>[]>();

  constructor(private readonly destinations: Destinations) {}

  onMatrix<K extends MatrixInboundKind>(kind: K, ...handlers: MatrixHandler<K>[]): this {
    this.fromMatrix.set(kind, [...(this.fromMatrix.get(kind) ?? []), ...handlers]);
    return this;
  }

  onXmpp<K extends XmppEventKind>(kind: K, ...handlers: XmppHandler<K>[]): this {
    this.fromXmpp.set(kind, [...(this.fromXmpp.get(kind) ?? []), ...handlers]);
    return this;
  }

  async matrixEvent(event: MatrixInbound): Promise<void> {
    const handlers = this.fromMatrix.get(event.kind);
    if (handlers) await run(handlers, event, await this.destinations.ofMatrixEvent(event));
  }

  async xmppEvent(event: XmppEvent): Promise<void> {
    const handlers = this.fromXmpp.get(event.kind);
    if (handlers) await run(handlers, event, await this.destinations.ofXmppEvent(event));
  }
}

/** The handlers were registered for this event's kind, which is what makes them take it. */
async function run<E, D>(handlers: readonly Handler<never, D>[], event: E, destination: D | undefined): Promise<void> {
  for (const handler of handlers) if ((await (handler as Handler<E, D>)(event, destination)) === true) return;
}

/** A handler for bridged rooms only: it never sees an event whose room has no destination. */
export function bridged<E, D>(handler: (event: E, destination: D) => Promise<boolean | void>): Handler<E, D> {
  return async (event, destination) => (destination === undefined ? undefined : handler(event, destination));
}

/**
 * A handler that stops events from Matrix users whose doings do not go to XMPP: the bridge's own (so
 * nothing it said goes back out) and users not allowed to use it. In a gateway room everyone's do:
 * its occupants hear the room, ghosts included, as Matrix has it.
 */
export function onlyBridgedUsers(bridges: (matrixUser: string) => boolean, log: Logger): Handler<{ sender: string; roomId: string }, XmppDestination> {
  return async ({ sender, roomId }, destination) => {
    if (bridges(sender) || destination?.link.kind === "gateway") return false;
    log.debug({ sender, roomId }, "not bridged: the bridge's own user, or one that may not use the bridge");
    return true;
  };
}
