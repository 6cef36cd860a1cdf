import type { MatrixInbound, MatrixInboundKind, MatrixInboundOf, XmppEvent, XmppEventKind, XmppEventOf } from "../core/model.js";
import type { Logger } from "../log.js";

/** Takes one event; returns true when it took it, so the handlers registered after it for that kind do not see it. */
export type Handler<E> = (event: E) => Promise<boolean | void>;

/**
 * The table from event kind to the capabilities that handle it, for both directions. Handlers of one
 * kind run in the order they were registered: that order is the whole of the routing.
 */
export class Dispatch {
  private readonly fromMatrix = new Map<MatrixInboundKind, Handler<never>[]>();
  private readonly fromXmpp = new Map<XmppEventKind, Handler<never>[]>();

  onMatrix<K extends MatrixInboundKind>(kind: K, ...handlers: Handler<MatrixInboundOf<K>>[]): this {
    this.fromMatrix.set(kind, [...(this.fromMatrix.get(kind) ?? []), ...handlers]);
    return this;
  }

  onXmpp<K extends XmppEventKind>(kind: K, ...handlers: Handler<XmppEventOf<K>>[]): this {
    this.fromXmpp.set(kind, [...(this.fromXmpp.get(kind) ?? []), ...handlers]);
    return this;
  }

  matrixEvent(event: MatrixInbound): Promise<void> {
    return run(this.fromMatrix.get(event.kind), event);
  }

  xmppEvent(event: XmppEvent): Promise<void> {
    return run(this.fromXmpp.get(event.kind), event);
  }
}

/** The handlers were registered for this event's kind, which is what makes them take it. */
async function run<E>(handlers: readonly Handler<never>[] | undefined, event: E): Promise<void> {
  for (const handler of handlers ?? []) if ((await (handler as Handler<E>)(event)) === true) return;
}

/**
 * A handler that stops events from Matrix users whose doings do not go to XMPP: the bridge's own (so
 * nothing it said goes back out) and users not allowed to use it.
 */
export function onlyBridgedUsers(bridges: (matrixUser: string) => boolean, log: Logger): Handler<{ sender: string; roomId: string }> {
  return async ({ sender, roomId }) => {
    if (bridges(sender)) return false;
    log.debug({ sender, roomId }, "not bridged: the bridge's own user, or one that may not use the bridge");
    return true;
  };
}
