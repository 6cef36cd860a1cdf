import express, { type Request, type Response, type NextFunction, type Router } from "express";
import type { Logger } from "../log.js";
import { sameSecret } from "../core/secrets.js";

/** One transaction as the homeserver pushes it (Application Service API, PUT /transactions). */
export interface Transaction {
  txnId: string;
  events: MatrixEvent[];
  /** Typing, receipts and presence (MSC2409; stable key "ephemeral", else the unstable one). */
  ephemeral: MatrixEvent[];
}

export interface MatrixEvent {
  type: string;
  room_id?: string;
  sender?: string;
  event_id?: string;
  state_key?: string;
  origin_server_ts?: number;
  content?: Record<string, unknown>;
  unsigned?: Record<string, unknown>;
  redacts?: string;
}

/** Third-party lookups (Application Service API, /thirdparty): the spec's shapes. */
export interface ThirdPartyProtocol {
  user_fields: string[];
  location_fields: string[];
  icon: string;
  field_types: Record<string, { regexp: string; placeholder: string }>;
  instances: { network_id: string; desc: string; fields: Record<string, string> }[];
}
export interface ThirdPartyLocation {
  alias: string;
  protocol: string;
  fields: Record<string, string>;
}
export interface ThirdPartyUser {
  userid: string;
  protocol: string;
  fields: Record<string, string>;
}

export interface ThirdPartyHandlers {
  /** The protocol's metadata; undefined for a protocol the bridge does not speak. */
  protocol(protocol: string): ThirdPartyProtocol | undefined;
  locations(protocol: string, fields: Record<string, string>): Promise<ThirdPartyLocation[]>;
  locationsOfAlias(alias: string): Promise<ThirdPartyLocation[]>;
  users(protocol: string, fields: Record<string, string>): Promise<ThirdPartyUser[]>;
  usersOfId(userId: string): Promise<ThirdPartyUser[]>;
}

export interface AppserviceHandlers {
  /** Must not return before the transaction is durably kept: the homeserver forgets it on our 200. */
  onTransaction(txn: Transaction): Promise<void>;
  /** True when the bridge made the user (a ghost it can stand for). */
  onUserQuery(userId: string): Promise<boolean>;
  /** True when the bridge made a room for the alias. */
  onAliasQuery(alias: string): Promise<boolean>;
  /** The homeserver's ping (POST /_matrix/app/v1/ping) arrived. */
  onPing(transactionId: string | undefined): void;
  thirdParty: ThirdPartyHandlers;
}

function matrixError(res: Response, status: number, errcode: string, error: string): void {
  res.status(status).json({ errcode, error });
}

/**
 * How long a transaction may take to be stored before the homeserver is told to send it again. The
 * store answers at once when it is away; this is for a store that does not answer at all. Should it
 * still take the transaction later, the homeserver's next attempt is acknowledged as a repeat.
 */
const TRANSACTION_DEADLINE_MS = 10_000;

class DeadlineError extends Error {
  constructor(ms: number) {
    super(`not stored within ${ms} ms`);
    this.name = "DeadlineError";
  }
}

async function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new DeadlineError(ms)), ms)));
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const asEvents = (value: unknown): MatrixEvent[] =>
  Array.isArray(value) ? value.filter((e): e is MatrixEvent => typeof e === "object" && e !== null && typeof (e as MatrixEvent).type === "string") : [];

/**
 * The Application Service API the homeserver calls. The bridge answers it itself, rather than through
 * matrix-appservice, so that a transaction is acknowledged only once it is in Redis, and its ID is
 * remembered there (not in memory) across restarts.
 */
export function appserviceRouter(hsToken: string, handlers: AppserviceHandlers, log: Logger, maxBodyBytes: number): Router {
  const router = express.Router();

  const authenticate = (req: Request, res: Response, next: NextFunction): void => {
    const header = req.headers.authorization;
    const query = typeof req.query.access_token === "string" ? req.query.access_token : undefined;
    const token = header?.startsWith("Bearer ") ? header.slice("Bearer ".length) : query;
    if (token === undefined || !sameSecret(token, hsToken)) {
      // One line per refused request, without the token it carried.
      log.warn({ method: req.method, path: req.path.slice(0, 255), remote: req.socket.remoteAddress }, `refused a homeserver request: ${token === undefined ? "no" : "wrong"} token`);
      return token === undefined ? matrixError(res, 401, "M_UNAUTHORIZED", "missing homeserver token") : matrixError(res, 403, "M_FORBIDDEN", "wrong homeserver token");
    }
    next();
  };

  router.use("/_matrix/app/v1", express.json({ limit: maxBodyBytes }), authenticate);

  router.put("/_matrix/app/v1/transactions/:txnId", async (req: Request<{ txnId: string }>, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const txn: Transaction = {
      txnId: req.params.txnId,
      events: asEvents(body.events),
      // Synapse puts the same list under both keys when the registration asks for both: one is read.
      ephemeral: asEvents(Array.isArray(body.ephemeral) ? body.ephemeral : body["de.sorunome.msc2409.ephemeral"]),
    };
    try {
      await withDeadline(handlers.onTransaction(txn), TRANSACTION_DEADLINE_MS);
      res.json({});
    } catch (err) {
      // Not acknowledged: the homeserver keeps the transaction and sends it again later.
      log.warn({ txnId: txn.txnId, err }, "could not queue a transaction; the homeserver will retry it");
      matrixError(res, 503, "M_UNKNOWN", "the bridge cannot store the transaction right now");
    }
  });

  router.post("/_matrix/app/v1/ping", (req: Request, res: Response) => {
    const body = (req.body ?? {}) as { transaction_id?: unknown };
    handlers.onPing(typeof body.transaction_id === "string" ? body.transaction_id : undefined);
    res.json({});
  });

  /** A query answers 200 when the bridge has (or just made) the thing, 404 otherwise, even on failure. */
  const existenceQuery = (kind: "user" | "room", ask: (id: string) => Promise<boolean>) => async (req: Request<{ id: string }>, res: Response) => {
    const exists = await ask(req.params.id).catch((err: Error) => {
      log.warn({ [kind]: req.params.id, err }, `${kind} query failed`);
      return false;
    });
    if (exists) res.json({});
    else matrixError(res, 404, "M_NOT_FOUND", `no such ${kind} on the bridge`);
  };
  router.get("/_matrix/app/v1/users/:id", existenceQuery("user", (id) => handlers.onUserQuery(id)));
  router.get("/_matrix/app/v1/rooms/:id", existenceQuery("room", (id) => handlers.onAliasQuery(id)));

  router.use(thirdPartyRouter(handlers.thirdParty, log));
  router.use("/_matrix/app", (_req: Request, res: Response) => matrixError(res, 404, "M_UNRECOGNIZED", "unknown endpoint"));
  return router;
}

/** A lookup's query parameters: the fields the homeserver passed on from the client, each once. */
function fieldsOf(req: Request): Record<string, string> {
  const fields = Object.entries(req.query).filter((entry): entry is [string, string] => typeof entry[1] === "string" && entry[0] !== "access_token");
  return Object.fromEntries(fields);
}

/** GET /thirdparty/...: the room directory's and the client's lookups of locations (MUCs) and users, each way. */
function thirdPartyRouter(handlers: ThirdPartyHandlers, log: Logger): Router {
  const router = express.Router();
  const base = "/_matrix/app/v1/thirdparty";
  // The spec answers "nothing found" with a 404, and so a lookup that failed: the homeserver shows no results either way.
  const lookup = (what: string, find: (req: Request) => Promise<unknown[]>) => async (req: Request, res: Response) => {
    const found = await find(req).catch((err: Error) => {
      log.warn({ path: req.path, err }, `third-party ${what} lookup failed`);
      return [];
    });
    if (found.length > 0) res.json(found);
    else matrixError(res, 404, "M_NOT_FOUND", `no ${what} found`);
  };
  router.get(`${base}/protocol/:protocol`, (req: Request<{ protocol: string }>, res: Response) => {
    const protocol = handlers.protocol(req.params.protocol);
    if (protocol) res.json(protocol);
    else matrixError(res, 404, "M_NOT_FOUND", `the bridge does not speak ${req.params.protocol}`);
  });
  router.get(`${base}/location/:protocol`, lookup("location", (req) => handlers.locations(String(req.params.protocol), fieldsOf(req))));
  router.get(`${base}/location`, lookup("location", (req) => (typeof req.query.alias === "string" ? handlers.locationsOfAlias(req.query.alias) : Promise.resolve([]))));
  router.get(`${base}/user/:protocol`, lookup("user", (req) => handlers.users(String(req.params.protocol), fieldsOf(req))));
  router.get(`${base}/user`, lookup("user", (req) => (typeof req.query.userid === "string" ? handlers.usersOfId(req.query.userid) : Promise.resolve([]))));
  return router;
}
