/** A Matrix user of the test homeserver, speaking the plain client-server API over HTTP. */
import { stack, sleep, pollFor } from "./harness.js";

export interface ClientEvent {
  type: string;
  event_id: string;
  sender: string;
  room_id: string;
  state_key?: string;
  redacts?: string;
  content: Record<string, any>;
  unsigned?: Record<string, any>;
}

export class MatrixTestClient {
  private since: string | undefined;
  /** Every timeline event seen by sync, by room. */
  readonly timeline = new Map<string, ClientEvent[]>();
  readonly invites = new Set<string>();
  /** The invite state (stripped events) of each room the user was invited to. */
  readonly inviteState = new Map<string, ClientEvent[]>();
  readonly ephemeral: ClientEvent[] = [];

  private constructor(readonly userId: string, readonly accessToken: string) {}

  static async register(localpart: string, password = "test-password"): Promise<MatrixTestClient> {
    const url = `${stack.synapseUrl}/_matrix/client/v3/register`;
    const first = await fetch(url, { method: "POST", body: JSON.stringify({ username: localpart, password }), headers: { "content-type": "application/json" } });
    const session = ((await first.json()) as { session?: string }).session;
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: localpart, password, auth: { type: "m.login.dummy", session } }),
    });
    const body = (await res.json()) as { user_id: string; access_token: string; error?: string };
    if (!res.ok) throw new Error(`cannot register ${localpart}: ${res.status} ${body.error}`);
    return new MatrixTestClient(body.user_id, body.access_token);
  }

  /** Logs the user in, or registers them when there is no such user yet (the demo's users outlive a run). */
  static async signIn(localpart: string, password: string): Promise<MatrixTestClient> {
    const res = await fetch(`${stack.synapseUrl}/_matrix/client/v3/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user: localpart }, password }),
    });
    if (!res.ok) return MatrixTestClient.register(localpart, password);
    const body = (await res.json()) as { user_id: string; access_token: string };
    return new MatrixTestClient(body.user_id, body.access_token);
  }

  async request<T = any>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${stack.synapseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.accessToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json().catch(() => ({}))) as T & { errcode?: string; error?: string };
    if (!res.ok) throw Object.assign(new Error(`${method} ${path}: ${res.status} ${json.errcode} ${json.error}`), { status: res.status, body: json });
    return json;
  }

  /** Uploads a file to the media repository; returns its mxc:// URI. */
  async upload(bytes: Buffer, mediaType: string, name: string): Promise<string> {
    const res = await fetch(`${stack.synapseUrl}/_matrix/media/v3/upload?filename=${encodeURIComponent(name)}`, {
      method: "POST",
      headers: { authorization: `Bearer ${this.accessToken}`, "content-type": mediaType },
      body: new Uint8Array(bytes),
    });
    const json = (await res.json()) as { content_uri?: string; error?: string };
    if (!res.ok || !json.content_uri) throw new Error(`upload of ${name}: ${res.status} ${json.error}`);
    return json.content_uri;
  }

  /** Downloads a file from the media repository (authenticated media), with its content type. */
  async download(mxc: string): Promise<{ bytes: Buffer; mediaType: string }> {
    const res = await fetch(`${stack.synapseUrl}/_matrix/client/v1/media/download/${mxc.slice("mxc://".length)}`, { headers: { authorization: `Bearer ${this.accessToken}` } });
    if (!res.ok) throw new Error(`download of ${mxc}: ${res.status}`);
    return { bytes: Buffer.from(await res.arrayBuffer()), mediaType: res.headers.get("content-type") ?? "" };
  }

  async sync(timeoutMs = 0): Promise<void> {
    const params = new URLSearchParams({ timeout: String(timeoutMs) });
    if (this.since) params.set("since", this.since);
    const res = await this.request<any>("GET", `/_matrix/client/v3/sync?${params}`);
    this.since = res.next_batch;
    for (const [roomId, room] of Object.entries<any>({ ...(res.rooms?.leave ?? {}), ...(res.rooms?.join ?? {}) })) {
      const list = this.timeline.get(roomId) ?? [];
      for (const e of room.timeline?.events ?? []) list.push({ ...e, room_id: roomId });
      this.timeline.set(roomId, list);
      for (const e of room.ephemeral?.events ?? []) this.ephemeral.push({ ...e, room_id: roomId });
      this.invites.delete(roomId);
    }
    for (const [roomId, room] of Object.entries<any>(res.rooms?.invite ?? {})) {
      this.invites.add(roomId);
      this.inviteState.set(roomId, room.invite_state?.events ?? []);
    }
  }

  /** Syncs once and forgets what that brought: later waits see only what happens from now on. */
  async skipHistory(): Promise<void> {
    await this.sync();
    this.timeline.clear();
    this.invites.clear();
    this.inviteState.clear();
    this.ephemeral.length = 0;
  }

  /** Syncs until the predicate finds an event, or fails after timeoutMs. */
  waitForEvent(predicate: (e: ClientEvent) => boolean, what: string, timeoutMs = 20_000): Promise<ClientEvent> {
    const find = () => [...this.timeline.values()].map((events) => events.find(predicate)).find((e) => e !== undefined);
    return pollFor(find, () => this.sync(1000), `${this.userId} timed out waiting for ${what}`, timeoutMs);
  }

  /** Syncs until an ephemeral event (typing, receipt) matches. */
  waitForEphemeral(predicate: (e: ClientEvent) => boolean, what: string, timeoutMs = 20_000): Promise<ClientEvent> {
    return pollFor(() => this.ephemeral.find(predicate), () => this.sync(1000), `${this.userId} timed out waiting for ${what}`, timeoutMs);
  }

  waitForInvite(timeoutMs = 20_000): Promise<string> {
    return pollFor(() => [...this.invites][0], () => this.sync(1000), `${this.userId} timed out waiting for an invite`, timeoutMs);
  }

  async join(roomIdOrAlias: string): Promise<string> {
    const res = await this.request<{ room_id: string }>("POST", `/_matrix/client/v3/join/${encodeURIComponent(roomIdOrAlias)}`, {});
    return res.room_id;
  }

  async send(roomId: string, content: Record<string, unknown>, type = "m.room.message"): Promise<string> {
    const txn = `t${Date.now()}${Math.random().toString(36).slice(2)}`;
    const res = await this.request<{ event_id: string }>("PUT", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/${type}/${txn}`, content);
    return res.event_id;
  }

  sendText(roomId: string, body: string): Promise<string> {
    return this.send(roomId, { msgtype: "m.text", body });
  }

  async createRoom(options: Record<string, unknown>): Promise<string> {
    return (await this.request<{ room_id: string }>("POST", "/_matrix/client/v3/createRoom", options)).room_id;
  }

  async members(roomId: string): Promise<Map<string, string>> {
    const res = await this.request<{ chunk: ClientEvent[] }>("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/members`);
    return new Map(res.chunk.map((e) => [e.state_key!, e.content.membership as string]));
  }

  /** The user ID of the joined member with this display name, if any. */
  async memberNamed(roomId: string, displayName: string): Promise<string | undefined> {
    const res = await this.request<{ chunk: ClientEvent[] }>("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/members?membership=join`);
    return res.chunk.find((e) => e.content.displayname === displayName)?.state_key;
  }

  /** The room's message bodies in the homeserver's order, from /messages (sync may skip a burst). */
  async history(roomId: string, limit = 1000): Promise<ClientEvent[]> {
    const res = await this.request<{ chunk: ClientEvent[] }>("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=${limit}`);
    return res.chunk.filter((e) => e.type === "m.room.message").reverse();
  }

  messages(roomId: string): ClientEvent[] {
    return (this.timeline.get(roomId) ?? []).filter((e) => e.type === "m.room.message");
  }
}

export { sleep };
