import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { checkMediaType, displayName } from "../../src/media/media-type.js";
import { fetchRemoteFile, RemoteFileError, type FetchFailure, type FetchLimits } from "../../src/media/remote-file.js";

/** A valid 3×2 RGB PNG. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAIAAAASFvFNAAAAHElEQVR4nGNg0AioWHDig4QDQ0rPljssOiE1SwBJaAfF8YY4cQAAAABJRU5ErkJggg==",
  "base64",
);

type Route = (req: IncomingMessage, res: ServerResponse) => void;
interface Server {
  origin: string;
  host: string;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 and a random port, answering by path. */
async function serve(routes: Record<string, Route>): Promise<Server> {
  const server = http.createServer((req, res) => {
    res.on("error", () => {}); // the client under test hangs up on purpose
    const route = routes[new URL(req.url ?? "/", "http://x").pathname];
    if (route) route(req, res);
    else res.writeHead(404).end("not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

const send = (type: string | undefined, body: string | Buffer, headers: http.OutgoingHttpHeaders = {}): Route =>
  (_req, res) => res.writeHead(200, { ...(type ? { "content-type": type } : {}), ...headers }).end(body);
const redirect = (location: string, status = 302): Route => (_req, res) => res.writeHead(status, { location }).end();

describe("fetchRemoteFile", () => {
  let tmp: string;
  let main: Server; // allowlisted
  let other: Server; // allowlisted, a second origin to redirect to
  let closed: Server; // reachable, but not allowlisted
  let seenHeaders: IncomingHttpHeaders = {};
  /** Resolves once the client hung up on /huge. */
  let hugeClosed: Promise<void> | undefined;
  let limits: FetchLimits;

  before(async () => {
    // Every temporary directory lands here, so each test can check that a failure left none behind.
    tmp = await mkdtemp(path.join(os.tmpdir(), "remote-file-test-"));
    process.env.TMPDIR = tmp;
    other = await serve({ "/cat.png": send("image/png", PNG) });
    closed = await serve({ "/secret.txt": send("text/plain", "internal") });
    main = await serve({
      "/photos/cute%20cat.png": (req, res) => ((seenHeaders = req.headers), send("image/png", PNG)(req, res)),
      "/untyped": send(undefined, PNG),
      "/download": send("application/octet-stream", "a,b\n1,2\n", {
        "content-disposition": "attachment; filename=\"x.csv\"; filename*=UTF-8''%E2%82%AC%20rates%2F%E2%80%AEq1.csv",
      }),
      "/notes": send("text/plain; charset=utf-8", "just some text\n"),
      "/page": send("text/html; charset=utf-8", "<!doctype html><title>hi</title>"),
      "/fake.png": send("image/png", "<html>not a picture</html>"),
      "/no-type": send(undefined, "<html>not a picture either</html>"),
      "/drawing": send("image/svg+xml", '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'),
      "/to-other": redirect(`${other.origin}/cat.png`, 301),
      "/to-relative": redirect("/photos/cute%20cat.png", 307),
      "/to-closed": redirect(`${closed.origin}/secret.txt`),
      "/to-ftp": redirect("ftp://example.org/file"),
      "/loop": (req, res) => redirect(`/loop?${Number(new URL(req.url!, "http://x").search.slice(1)) + 1}`)(req, res),
      "/missing": (_req, res) => res.writeHead(404).end(),
      "/stall": () => {},
      // Sends its headers only, never a byte of the body.
      "/huge": (_req, res) => {
        res.writeHead(200, { "content-length": String(10 * 1024 * 1024) }).flushHeaders();
        hugeClosed = new Promise((resolve) => res.once("close", () => resolve()));
      },
      "/endless": (_req, res) => {
        res.writeHead(200, { "content-type": "application/octet-stream" });
        const chunk = Buffer.alloc(64 * 1024, 1);
        for (let i = 0; i < 32; i++) res.write(chunk);
        res.end();
      },
    });
    limits = { maxBytes: 1024 * 1024, timeoutMs: 3000, maxRedirects: 3, allowedHosts: [main.host, other.host] };
  });
  after(async () => {
    await Promise.all([main.close(), other.close(), closed.close()]);
    await rm(tmp, { recursive: true, force: true });
  });

  /** Asserts a fetch fails for the given reason and leaves no temporary directory behind. */
  async function refuses(url: string, reason: FetchFailure, overrides: Partial<FetchLimits> = {}, declared?: { mediaType?: string }) {
    await assert.rejects(fetchRemoteFile(url, { ...limits, ...overrides }, declared), (err) => {
      assert.ok(err instanceof RemoteFileError, String(err));
      assert.equal(err.reason, reason, err.message);
      return true;
    });
    assert.deepEqual(await readdir(tmp), []);
  }

  it("downloads a PNG to a private temp file with its type, size, dimensions and name", async () => {
    const file = await fetchRemoteFile(`${main.origin}/photos/cute%20cat.png`, limits);
    try {
      assert.deepEqual(await readFile(file.path), PNG);
      assert.equal((await stat(file.path)).mode & 0o777, 0o600);
      assert.equal(path.dirname(path.dirname(file.path)), tmp);
      assert.deepEqual({ size: file.size, mediaType: file.mediaType, name: file.name, width: file.width, height: file.height },
        { size: PNG.length, mediaType: "image/png", name: "cute cat.png", width: 3, height: 2 });
      assert.equal(seenHeaders["user-agent"], "matrix-xmpp-bridge");
      assert.equal(seenHeaders["accept-encoding"], "identity");
    } finally {
      await file.dispose();
    }
  });

  it("finds the type in the bytes when none is declared, and names the file after it", async () => {
    const file = await fetchRemoteFile(`${main.origin}/untyped`, limits);
    await file.dispose();
    assert.deepEqual([file.mediaType, file.name, file.width], ["image/png", "untyped.png", 3]);
  });

  it("takes the Content-Disposition name, made harmless", async () => {
    const file = await fetchRemoteFile(`${main.origin}/download`, limits);
    await file.dispose();
    assert.equal(file.name, "€ rates_q1.csv");
    assert.equal(file.mediaType, "application/octet-stream");
  });

  it("accepts a text file as the type the server declared", async () => {
    const file = await fetchRemoteFile(`${main.origin}/notes`, limits);
    try {
      assert.deepEqual([file.mediaType, file.name, file.size, file.width], ["text/plain", "notes.txt", 15, undefined]);
      assert.equal(await readFile(file.path, "utf8"), "just some text\n");
    } finally {
      await file.dispose();
    }
  });

  it("accepts a declared SVG as a file without dimensions", async () => {
    const file = await fetchRemoteFile(`${main.origin}/drawing`, limits);
    await file.dispose();
    assert.deepEqual([file.mediaType, file.name, file.width, file.height], ["image/svg+xml", "drawing.svg", undefined, undefined]);
  });

  it("removes the temp directory on dispose, and a second dispose is harmless", async () => {
    const file = await fetchRemoteFile(`${main.origin}/notes`, limits);
    await file.dispose();
    await file.dispose();
    assert.deepEqual(await readdir(tmp), []);
  });

  it("refuses URLs that are not plain http(s) links", async () => {
    await refuses("ftp://example.org/file", "bad-url");
    await refuses("not a url", "bad-url");
    await refuses(`http://user:secret@${main.host}/notes`, "bad-url");
    await refuses(`${main.origin}/to-ftp`, "bad-url");
  });

  it("refuses loopback and private addresses unless the exact host is allowlisted", async () => {
    await refuses(`${main.origin}/notes`, "refused-address", { allowedHosts: [] });
    await refuses(`${closed.origin}/secret.txt`, "refused-address"); // 127.0.0.1 on another port is not allowed
    await refuses(`http://localhost:${new URL(main.origin).port}/notes`, "refused-address"); // through DNS
    for (const host of ["10.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254", "100.64.0.1", "[fd00::1]", "0.0.0.0", "[::127.0.0.1]"]) {
      await refuses(`http://${host}/`, "refused-address");
    }
  });

  it("follows redirects to allowed hosts, relative ones too", async () => {
    const file = await fetchRemoteFile(`${main.origin}/to-other`, limits);
    await file.dispose();
    assert.deepEqual([file.mediaType, file.size, file.name], ["image/png", PNG.length, "to-other.png"]);
    const relative = await fetchRemoteFile(`${main.origin}/to-relative`, limits);
    await relative.dispose();
    assert.equal(relative.width, 3);
  });

  it("refuses a redirect to a host that is not allowed", async () => {
    await refuses(`${main.origin}/to-closed`, "refused-address");
  });

  it("refuses more redirects than the limit", async () => {
    await refuses(`${main.origin}/loop?0`, "too-many-redirects");
    await refuses(`${main.origin}/to-other`, "too-many-redirects", { maxRedirects: 0 });
  });

  it("refuses an error status", async () => {
    await assert.rejects(fetchRemoteFile(`${main.origin}/missing`, limits), { reason: "http-status", message: "the server answered 404" });
    assert.deepEqual(await readdir(tmp), []);
  });

  it("refuses a Content-Length over the limit before downloading", async () => {
    // No byte of the body ever comes: a fetch that waited for it would end in a timeout, not this.
    await assert.rejects(fetchRemoteFile(`${main.origin}/huge`, limits), { reason: "too-large", message: "the file is larger than 1 MB" });
    // ...and it hung up rather than leave the download open.
    await hugeClosed;
    assert.deepEqual(await readdir(tmp), []);
  });

  it("aborts a chunked download once it passes the limit", async () => {
    await refuses(`${main.origin}/endless`, "too-large", { maxBytes: 100 * 1024 });
  });

  it("gives up on a server that stalls", async () => {
    await refuses(`${main.origin}/stall`, "timeout", { timeoutMs: 200 });
  });

  it("refuses web pages and files that are not the media they claim to be", async () => {
    await refuses(`${main.origin}/page`, "wrong-type");
    await refuses(`${main.origin}/fake.png`, "wrong-type");
    await refuses(`${main.origin}/no-type`, "wrong-type", {}, { mediaType: "image/png" });
  });
});

describe("checkMediaType", () => {
  const png = { ext: "png", mime: "image/png" };
  it("trusts the bytes, but a file labelled as media must be media of that kind", () => {
    assert.deepEqual(checkMediaType("image/jpeg", png), { mediaType: "image/png" });
    assert.deepEqual(checkMediaType("application/octet-stream", png), { mediaType: "image/png" });
    assert.deepEqual(checkMediaType("video/mp4", png), { mismatch: "the file claims to be video/mp4 but is image/png" });
    assert.ok("mismatch" in checkMediaType("audio/ogg", undefined));
    assert.deepEqual(checkMediaType("text/markdown", undefined), { mediaType: "text/markdown" });
    assert.deepEqual(checkMediaType(undefined, undefined), { mediaType: "application/octet-stream" });
    assert.deepEqual(checkMediaType("image/svg+xml", { ext: "xml", mime: "application/xml" }), { mediaType: "image/svg+xml" });
  });
});

describe("displayName", () => {
  const url = new URL("https://upload.example/slot/a%2Fb%E2%80%AEgnp.exe");
  it("strips separators and invisible characters, and falls back to the path, then to 'file'", () => {
    assert.equal(displayName('attachment; filename="../../etc/passwd"', url, "text/plain"), ".._.._etc_passwd");
    assert.equal(displayName('attachment; filename="a\\\\b\tc"', url, "text/plain"), "a_bc.txt");
    assert.equal(displayName(undefined, url, "application/x-msdownload"), "a_bgnp.exe");
    assert.equal(displayName("attachment", new URL("https://upload.example/"), "image/png"), "file.png");
    assert.equal(displayName('inline; filename=".."', new URL("https://upload.example/%"), "text/plain"), "%.txt");
  });
  it("cuts long names to 200 characters, keeping the extension and whole characters", () => {
    const name = displayName(`attachment; filename*=UTF-8''${encodeURIComponent("😀".repeat(300))}.png`, url, "image/png");
    assert.equal(Array.from(name).length, 200);
    assert.ok(name.endsWith("😀.png"));
  });
});
