/**
 * Proxies that stand between the bridge and the servers and note what the bridge asks of them: every
 * request it makes of the homeserver, and every iq it writes to the component stream. What a test
 * counts is what crossed the wire, whatever library made it.
 */
import { createServer as createHttpServer, request as httpRequest, type Server as HttpServer } from "node:http";
import { createServer as createTcpServer, connect, type Server as TcpServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/** One request the bridge made of the homeserver: its method and path, without the query. */
export interface NotedRequest {
  method: string;
  path: string;
}

/** A proxy on loopback that notes what passes through it, in order. */
abstract class NotingProxy<T> {
  readonly seen: T[] = [];
  protected constructor(protected readonly server: HttpServer | TcpServer) {}

  protected async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return this;
  }

  protected get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** What was noted since `from` (an index into `seen`). */
  since(from: number): T[] {
    return this.seen.slice(from);
  }

  protected abstract dropConnections(): void;

  async stop(): Promise<void> {
    this.dropConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** An HTTP proxy in front of the homeserver that notes each request passed on. */
export class HomeserverRequests extends NotingProxy<NotedRequest> {
  private constructor(protected override readonly server: HttpServer) {
    super(server);
  }

  static async start(target: string): Promise<HomeserverRequests> {
    const to = new URL(target);
    const server = createHttpServer();
    const proxy = new HomeserverRequests(server);
    server.on("request", (req, res) => {
      proxy.seen.push({ method: req.method ?? "", path: (req.url ?? "").split("?")[0]! });
      const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on("error", () => res.destroy());
      req.pipe(upstream);
    });
    return proxy.listen();
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  protected dropConnections(): void {
    this.server.closeAllConnections();
  }
}

/** The payload namespace of each iq in a stream of XML text; its tail is kept for an iq cut between two chunks. */
const IQ_PAYLOAD = /<iq\b[^>]*?(?:\/>|>\s*<([\w:-]+)[^>]*?\bxmlns=(?:"([^"]*)"|'([^']*)'))/g;

/**
 * A TCP proxy in front of the XMPP server's component port that notes the namespace of the payload of
 * each iq the bridge writes ("" for an iq without one, a result).
 */
export class ComponentIqs extends NotingProxy<string> {
  private readonly sockets = new Set<Socket>();

  static async start(targetHost: string, targetPort: number): Promise<ComponentIqs> {
    const server = createTcpServer();
    const proxy = new ComponentIqs(server);
    server.on("connection", (fromBridge) => {
      const toServer = connect(targetPort, targetHost);
      proxy.sockets.add(fromBridge).add(toServer);
      let pending = "";
      fromBridge.on("data", (chunk: Buffer) => {
        pending += chunk.toString("utf8");
        let lastEnd = 0;
        for (const match of pending.matchAll(IQ_PAYLOAD)) {
          proxy.seen.push(match[2] ?? match[3] ?? "");
          lastEnd = match.index + match[0].length;
        }
        // What follows the last whole match may be the start of an iq cut in two.
        const open = pending.lastIndexOf("<iq");
        pending = open >= lastEnd ? pending.slice(open) : "";
      });
      fromBridge.pipe(toServer);
      toServer.pipe(fromBridge);
      const close = () => {
        fromBridge.destroy();
        toServer.destroy();
      };
      fromBridge.on("close", close).on("error", close);
      toServer.on("close", close).on("error", close);
    });
    return proxy.listen();
  }

  get service(): string {
    return `xmpp://127.0.0.1:${this.port}`;
  }

  protected dropConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}
