import { createHash, timingSafeEqual } from "node:crypto";
import express, { type Express, type NextFunction, type Request, type Response } from "express";
import { rateLimit } from "express-rate-limit";
import { z } from "zod";
import { parseBareJid, parseMatrixUserId } from "../core/identity.js";
import type { Link } from "../core/model.js";
import type { Logger } from "../log.js";

/**
 * The provisioning API: admin tools and integration managers link Matrix rooms to MUCs, unlink them, list
 * the links, look MUCs up and read the bridge's status, over HTTP with a shared secret. In the spirit of
 * matrix-appservice-irc's /_matrix/provision. This module is HTTP only: what each call does is decided by
 * the handlers (src/pipeline/provisioning.ts).
 */

export const PROVISIONING_PREFIX = "/_matrix/provision/v1";

/** Every errcode the API answers with, and its HTTP status. */
const STATUS_OF = {
  M_MISSING_TOKEN: 401,
  M_UNKNOWN_TOKEN: 401,
  M_NOT_JSON: 400,
  M_TOO_LARGE: 413,
  M_MISSING_PARAM: 400,
  M_INVALID_PARAM: 400,
  M_LIMIT_EXCEEDED: 429,
  M_UNRECOGNIZED: 404,
  M_UNKNOWN: 500,
  /** The Matrix user on whose behalf the call is made may not use the bridge (bridge.permissions). */
  XMPP_NOT_ALLOWED: 403,
  /** That user's power level in the room is too low. */
  XMPP_NOT_ENOUGH_POWER: 403,
  /** The bridge bot is not in the room and cannot join it. */
  XMPP_BOT_NOT_IN_ROOM: 403,
  /** No MUC room answers at that address. */
  XMPP_UNKNOWN_MUC: 404,
  /** The room or the MUC is bridged already. */
  XMPP_DOUBLE_BRIDGE: 409,
  /** The room is not bridged to a MUC. */
  XMPP_NOT_BRIDGED: 404,
} as const;

export type ProvisioningErrcode = keyof typeof STATUS_OF;

/** A call refused for a reason the caller can act on; answered with its errcode, never logged as a failure. */
export class ProvisioningError extends Error {
  constructor(
    readonly errcode: ProvisioningErrcode,
    message: string,
  ) {
    super(message);
    this.name = "ProvisioningError";
  }
}

/** A MUC as a lookup finds it. */
export interface MucLookup {
  muc: string;
  name: string;
  /** The name the room gives itself, when it has one. */
  title?: string;
  description?: string;
  subject?: string;
  /** The portal alias that opens it, when it is not bridged to another room. */
  alias?: string;
  link?: Link;
}

export interface StatusReport {
  parts: { name: string; up: boolean }[];
  waiting: { toXmpp: number; toMatrix: number } | undefined;
}

export interface ProvisioningHandlers {
  link(roomId: string, muc: string, userId: string): Promise<{ name: string }>;
  unlink(roomId: string, userId: string): Promise<{ muc: string }>;
  links(from: number, limit: number, roomId: string | undefined): Promise<{ links: Link[]; total: number }>;
  lookup(muc: string): Promise<MucLookup>;
  status(): Promise<StatusReport>;
}

const matrixRoomId = z.string().regex(/^![^\s:]+:\S+$/, "not a Matrix room ID");
const matrixUserId = z.string().refine((id) => {
  try {
    parseMatrixUserId(id);
    return true;
  } catch {
    return false;
  }
}, "not a Matrix user ID");
/** A MUC's bare JID, room@service; compared as XMPP compares them, in lower case. */
const mucJid = z
  .string()
  .refine((jid) => {
    try {
      const { local, resource } = parseBareJid(jid);
      return local !== undefined && resource === undefined;
    } catch {
      return false;
    }
  }, "not a MUC's JID (room@service)")
  .transform((jid) => jid.toLowerCase());

const linkRequest = z.object({ matrix_room_id: matrixRoomId, muc: mucJid, user_id: matrixUserId });
const unlinkRequest = z.object({ matrix_room_id: matrixRoomId, user_id: matrixUserId });
const MAX_PAGE = 500;
const linksQuery = z.object({
  matrix_room_id: matrixRoomId.optional(),
  from: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(100),
});
const lookupQuery = z.object({ muc: mucJid });

/** The request's parameters as the schema reads them, or the error that names the first one wrong. */
function read<T>(schema: z.ZodType<T>, input: unknown): T {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const key = issue.path.join(".") || "(body)";
  if (issue.code === "invalid_type" && issue.input === undefined) throw new ProvisioningError("M_MISSING_PARAM", `${key} is required`);
  throw new ProvisioningError("M_INVALID_PARAM", `${key}: ${issue.message}`);
}

const linkJson = (link: Link) =>
  link.kind === "dm"
    ? { kind: link.kind, matrix_room_id: link.roomId, matrix_user: link.matrixUser, xmpp_user: link.xmppUser }
    : { kind: link.kind, matrix_room_id: link.roomId, muc: link.muc };

const digest = (token: string): Buffer => createHash("sha256").update(token).digest();

export interface ProvisioningSettings {
  secret: string;
  requestsPerMinute: number;
}

export function provisioningApp({ secret, requestsPerMinute }: ProvisioningSettings, handlers: ProvisioningHandlers, log: Logger): Express {
  const app = express();
  app.disable("x-powered-by");
  const expected = digest(secret);

  const refuse = (res: Response, errcode: ProvisioningErrcode, error: string): void => void res.status(STATUS_OF[errcode]).json({ errcode, error });

  // Before the token is checked, so that guessing it is limited too. Behind a reverse proxy every caller
  // shares the proxy's address, and so its limit.
  app.use(
    rateLimit({
      windowMs: 60_000,
      limit: requestsPerMinute,
      standardHeaders: "draft-8",
      legacyHeaders: false,
      logger: { error: (err, msg) => log.error({ err }, msg ?? "rate limiter"), warn: (err, msg) => log.warn({ err }, msg ?? "rate limiter") },
      handler: (req, res) => {
        // Once a minute per address, however many follow.
        if ((req as Request & { rateLimit?: { used: number } }).rateLimit?.used === requestsPerMinute + 1) log.info({ ip: req.ip }, "provisioning requests over the rate limit");
        refuse(res, "M_LIMIT_EXCEEDED", `more than ${requestsPerMinute} requests in a minute`);
      },
    }),
  );

  app.use((req: Request, res: Response, next: NextFunction) => {
    const header = req.headers.authorization;
    if (!header?.startsWith("Bearer ")) return refuse(res, "M_MISSING_TOKEN", "an Authorization: Bearer header with the provisioning secret is required");
    // Digests have one length whatever was sent, so the comparison takes the same time for every wrong token.
    if (!timingSafeEqual(digest(header.slice("Bearer ".length)), expected)) {
      log.info({ ip: req.ip, path: req.path }, "provisioning request with a wrong token");
      return refuse(res, "M_UNKNOWN_TOKEN", "wrong provisioning secret");
    }
    next();
  });
  app.use(express.json({ limit: "64kb" }));

  const api = express.Router();
  api.post("/link", async (req, res) => {
    const body = read(linkRequest, req.body);
    const { name } = await handlers.link(body.matrix_room_id, body.muc, body.user_id);
    res.json({ matrix_room_id: body.matrix_room_id, muc: body.muc, name });
  });
  api.post("/unlink", async (req, res) => {
    const body = read(unlinkRequest, req.body);
    const { muc } = await handlers.unlink(body.matrix_room_id, body.user_id);
    res.json({ matrix_room_id: body.matrix_room_id, muc });
  });
  api.get("/links", async (req, res) => {
    const query = read(linksQuery, req.query);
    const { links, total } = await handlers.links(query.from, query.limit, query.matrix_room_id);
    const next = query.from + links.length;
    res.json({ links: links.map(linkJson), total, ...(next < total ? { next_batch: String(next) } : {}) });
  });
  api.get("/lookup", async (req, res) => {
    const found = await handlers.lookup(read(lookupQuery, req.query).muc);
    res.json({
      muc: found.muc,
      name: found.name,
      ...(found.title ? { title: found.title } : {}),
      ...(found.description ? { description: found.description } : {}),
      ...(found.subject ? { subject: found.subject } : {}),
      ...(found.alias ? { alias: found.alias } : {}),
      link: found.link ? linkJson(found.link) : null,
    });
  });
  api.get("/status", async (_req, res) => {
    const { parts, waiting } = await handlers.status();
    res.json({
      parts: Object.fromEntries(parts.map((p) => [p.name, p.up ? "up" : "down"])),
      waiting: waiting ? { to_xmpp: waiting.toXmpp, to_matrix: waiting.toMatrix } : null,
    });
  });
  app.use(PROVISIONING_PREFIX, api);
  app.use((_req: Request, res: Response) => refuse(res, "M_UNRECOGNIZED", "unknown endpoint"));

  // Express 5 passes what a handler throws or rejects with here.
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof ProvisioningError) {
      log.info({ path: req.path, errcode: err.errcode, reason: err.message }, "provisioning request refused");
      return refuse(res, err.errcode, err.message);
    }
    const type = (err as { type?: string }).type;
    if (type === "entity.parse.failed") return refuse(res, "M_NOT_JSON", "the body is not JSON");
    if (type === "entity.too.large") return refuse(res, "M_TOO_LARGE", "the body is too large");
    log.error({ path: req.path, err }, "provisioning request failed");
    refuse(res, "M_UNKNOWN", "the request failed; the bridge's log says why");
  });
  return app;
}
