/**
 * After a test run: no log of the bridge may hold one of its secrets. Reads the stack's secrets (the
 * registration's tokens, the component secret, the key that signs file URLs, in the forms it could be
 * printed in) and every bridge log of the run; names each log and secret found, and fails.
 * Usage: node dist/test/checks/log-secrets.js <stack dir> (scripts/test.sh runs it after the tests).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parse as parseYaml } from "yaml";
import { fileUrlKey } from "../../src/core/file-urls.js";

/** The secrets a bridge with this registration and config holds, by name, in every form a log could show. */
export function secretsOf(registration: { as_token: string; hs_token: string }, config: { xmpp: { password?: string } }): Map<string, string> {
  const key = fileUrlKey(registration.as_token);
  const secrets = new Map<string, string>([
    ["as_token", registration.as_token],
    ["hs_token", registration.hs_token],
    ["file URL key (hex)", key.toString("hex")],
    ["file URL key (base64)", key.toString("base64")],
    ["file URL key (base64url)", key.toString("base64url")],
  ]);
  if (config.xmpp.password) secrets.set("component secret", config.xmpp.password);
  return secrets;
}

/** Which of the secrets the text holds. */
export const secretsIn = (text: string, secrets: ReadonlyMap<string, string>): string[] => [...secrets].filter(([, value]) => text.includes(value)).map(([name]) => name);

function main(stackDir: string): number {
  const registration = parseYaml(readFileSync(join(stackDir, "registration.yaml"), "utf8")) as { as_token: string; hs_token: string };
  const config = parseYaml(readFileSync(join(stackDir, "config.yaml"), "utf8")) as { xmpp: { password?: string } };
  const secrets = secretsOf(registration, config);
  const logs = readdirSync(stackDir).filter((name) => /^bridge-.*\.log$/.test(name));
  let found = 0;
  for (const log of logs) {
    for (const name of secretsIn(readFileSync(join(stackDir, log), "utf8"), secrets)) {
      console.error(`log-secrets: ${join(stackDir, log)} holds the ${name}`);
      found++;
    }
  }
  console.error(`log-secrets: ${logs.length} bridge logs read, ${secrets.size} secrets looked for, ${found} found`);
  return found === 0 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const stackDir = process.argv[2];
  if (!stackDir) throw new Error("usage: log-secrets.js <stack dir>");
  process.exitCode = main(stackDir);
}
