import { z } from "zod";

const port = z.number().int().min(1).max(65535);

/**
 * A URL with the given schemes. A value that is not a string at all is described by the loader (what was
 * given, what was expected: the description), a string that is not such a URL by `problem`.
 */
const urlOf = (protocol: RegExp, problem: string) =>
  z.url({ protocol, error: (issue) => (issue.code === "invalid_type" ? undefined : problem) }).describe("a URL");
const httpUrl = urlOf(/^https?$/, "must be an http:// or https:// URL");

const homeserver = z.strictObject({
  /** Client-server API base URL the bridge talks to. */
  url: httpUrl,
  /** The homeserver's server name, the part after ':' in user IDs. */
  domain: z.string().min(1),
});

const appservice = z.strictObject({
  bindAddress: z.string().min(1).default("127.0.0.1"),
  port: port.default(9000),
  /** Largest transaction body accepted from the homeserver. */
  maxBodyBytes: z.number().int().positive().default(10 * 1024 * 1024),
});

const xmpp = z.strictObject({
  /** Where the XMPP server accepts external components (XEP-0114). */
  service: urlOf(/^xmpp$/, "must be an xmpp://host:port URL"),
  /** The component's domain: puppets live here. */
  domain: z.string().min(1),
  /**
   * The component secret shared with the XMPP server; or `passwordFile`, a file holding it, or the
   * XMPP_PASSWORD environment variable (which wins over both).
   */
  password: z.string().min(1).optional(),
  passwordFile: z.string().min(1).optional(),
  /** Longest wait between reconnection attempts after the component connection drops. */
  maxReconnectDelaySeconds: z.number().positive().default(30),
});

/** "host:port", as a Sentinel's address is given. */
const hostPort = z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[^\s:\[\]]+):\d{1,5}$/, "must be host:port").describe("host:port");

const redis = z
  .strictObject({
    /** Where Redis is; with `sentinels`, only its credentials, database number and scheme count. */
    url: urlOf(/^rediss?$/, "must be a redis:// or rediss:// URL"),
    /** Prefix of every key the bridge writes, so one Redis can serve several bridges. */
    keyPrefix: z
      .string()
      .regex(/^[^{}]*$/, "must not hold { or }: the bridge's own hash tags decide which keys share a Redis Cluster slot")
      .default("mxb:"),
    /** Redis Sentinels ("host:port") to ask where the primary is, instead of the URL's host. */
    sentinels: z.array(hostPort).min(1).optional(),
    /** The name the Sentinels monitor the primary under (`sentinel monitor <name> ...`). */
    masterName: z.string().min(1).optional(),
  })
  .refine((r) => (r.sentinels === undefined) === (r.masterName === undefined), {
    message: "sentinels and masterName go together: give both or neither",
    path: ["masterName"],
  });

const ha = z.strictObject({
  /**
   * Several instances share one Redis: the one holding the lease is active (holds the component
   * connection, drains the outboxes), the others wait on standby to take over.
   */
  enabled: z.boolean().default(false),
  /** How long the lease lasts unless renewed; it is renewed every third of it, and taken over after it. */
  leaseSeconds: z.number().min(1).max(600).default(5),
  /** This instance's name in the lease and the logs; unset: the host name and process ID. */
  instanceId: z.string().min(1).optional(),
});

const metrics = z.strictObject({
  enabled: z.boolean().default(true),
  bindAddress: z.string().min(1).default("127.0.0.1"),
  port: port.default(9001),
});

const logging = z.strictObject({
  level: z.enum(["trace", "debug", "info", "warn", "error", "fatal"]).default("info"),
  /** json for log collectors, text for a terminal. */
  format: z.enum(["json", "text"]).default("json"),
});

const permissionLevel = z.enum(["none", "user", "admin"]);

const bridge = z.strictObject({
  /** Localpart prefix of ghosts; must match the registration's user namespace. */
  userPrefix: z.string().regex(/^[a-z0-9._=/-]+$/, "may hold only a-z 0-9 . _ = - /").default("_xmpp_"),
  /** Localpart prefix of portal aliases; must match the registration's alias namespace. */
  aliasPrefix: z.string().regex(/^[a-z0-9._=/-]+$/, "may hold only a-z 0-9 . _ = - /").default("_xmpp_"),
  /** Localpart of the bridge bot (the registration's sender_localpart). */
  botLocalpart: z.string().regex(/^[a-z0-9._=/-]+$/, "may hold only a-z 0-9 . _ = - /").default("xmppbot"),
  /** Display name of the bridge bot. */
  botDisplayName: z.string().default("XMPP bridge"),
  /** Days a message's ID mapping is kept for edits, replies and reactions. */
  messageMapDays: z.number().positive().default(30),
  /** How many of a MUC's last messages a new portal starts with (0: none). */
  backfillMessages: z.number().int().min(0).max(1000).default(50),
  /** How long messages for a MUC whose server cannot be reached wait, retried, before each is given up with a notice. */
  unreachableMucRetrySeconds: z.number().positive().default(300),
  /**
   * Who may use the bridge: keys are a Matrix user ID, a homeserver domain, or "*".
   * The most specific entry wins. Unset: the homeserver's own users (config/load.ts), as the default
   * cannot name homeserver.domain here.
   */
  permissions: z.record(z.string(), permissionLevel).optional(),
});

const media = z.strictObject({
  /**
   * How files sent on Matrix reach XMPP users, who cannot fetch authenticated Matrix media:
   * "link": a signed, expiring link to the bridge's own media listener, which streams the file from
   * the homeserver (nothing is copied or stored); "upload": the sender's puppet uploads a copy to the
   * XMPP server (XEP-0363), which must let the component's domain upload.
   */
  matrixToXmpp: z.enum(["link", "upload"]).default("link"),
  /** Where XMPP users reach the media listener (a reverse proxy in front of it, usually https). */
  publicUrl: httpUrl.optional(),
  bindAddress: z.string().min(1).default("127.0.0.1"),
  port: port.default(9002),
  /** Days a link to a Matrix file stays valid. */
  linkDays: z.number().positive().default(30),
  /** Largest file bridged either way; bigger ones become a notice with the link. */
  maxBytes: z.number().int().positive().default(100 * 1024 * 1024),
  /** Longest a download from an XMPP user's server may take. */
  timeoutSeconds: z.number().positive().default(60),
  maxRedirects: z.number().int().min(0).default(3),
  /**
   * Hosts the bridge may fetch files from although they resolve to loopback or private addresses
   * ("host" or "host:port"), e.g. an XMPP server's upload service on the local network.
   */
  allowedHosts: z.array(z.string().min(1)).default([]),
  /** The XMPP server's upload service (XEP-0363) for "upload"; found through disco#items when unset. */
  uploadService: z.string().min(1).optional(),
});

const presence = z.strictObject({
  /** Bridge presence between users who share a DM; many homeservers turn presence off. */
  enabled: z.boolean().default(true),
  /**
   * The fewest seconds between two presence updates of one user; changes in between are merged. Ghosts'
   * presence is set again every 20 s (or this, if longer) to stay ahead of Synapse's 30 s timeout.
   */
  minIntervalSeconds: z.number().min(0).default(10),
});

const gateway = z.strictObject({
  /** XMPP users may join Matrix rooms as MUCs: #alias%server@<xmpp.domain> or !id%server@<xmpp.domain>. */
  enabled: z.boolean().default(true),
  /** Matrix servers whose rooms may be joined: empty for the homeserver's own only, "*" for any. */
  allowServers: z.array(z.string().min(1)).default([]),
  /** Rooms (aliases or room IDs) that may not be joined, even on an allowed server. */
  denyRooms: z.array(z.string().min(1)).default([]),
  /** Whether a room may be joined by its ID, not only by an alias. */
  joinById: z.boolean().default(true),
  /** How many messages of history a joining XMPP user gets when it asks for no other amount. */
  historyMessages: z.number().int().min(0).max(100).default(20),
});

const provisioning = z.strictObject({
  /** Serve the provisioning API (link, unlink, list links, look up a MUC, status) for admin tools and integration managers. */
  enabled: z.boolean().default(false),
  bindAddress: z.string().min(1).default("127.0.0.1"),
  port: port.default(9003),
  /**
   * The bearer token every caller presents; or `secretFile`, a file holding it, or the PROVISIONING_SECRET
   * environment variable (which wins over both). Needed only when enabled.
   */
  secret: z.string().min(1).optional(),
  secretFile: z.string().min(1).optional(),
  /** Requests one client address may make in a minute; more are answered 429. */
  requestsPerMinute: z.number().int().positive().default(60),
});

const limits = z.strictObject({
  /**
   * One sender in one room (a Matrix user in a room, an XMPP user in a DM, a MUC occupant): past
   * `burst` messages at once, their messages are held, in order, and passed on at
   * `messagesPerMinute`, while the room's other senders go on. 0 messagesPerMinute: no limit.
   */
  perSender: z
    .strictObject({
      messagesPerMinute: z.number().min(0).default(60),
      burst: z.number().int().positive().default(30),
    })
    .prefault({}),
});

export const configSchema = z.strictObject({
  homeserver,
  appservice: appservice.prefault({}),
  xmpp,
  redis,
  metrics: metrics.prefault({}),
  logging: logging.prefault({}),
  bridge: bridge.prefault({}),
  media: media.prefault({}),
  presence: presence.prefault({}),
  gateway: gateway.prefault({}),
  provisioning: provisioning.prefault({}),
  ha: ha.prefault({}),
  limits: limits.prefault({}),
});

/** The config file as the schema reads it: the component secret may still be elsewhere. */
export type ConfigFile = z.infer<typeof configSchema>;

/** The config the bridge runs with: the secrets found and the permissions settled (config/load.ts); the provisioning secret is there when the API is enabled. */
export type BridgeConfig = Omit<ConfigFile, "xmpp" | "bridge" | "provisioning"> & {
  xmpp: Omit<ConfigFile["xmpp"], "password" | "passwordFile"> & { password: string };
  bridge: ConfigFile["bridge"] & { permissions: NonNullable<ConfigFile["bridge"]["permissions"]> };
  provisioning: Omit<ConfigFile["provisioning"], "secret" | "secretFile"> & { secret?: string };
};
