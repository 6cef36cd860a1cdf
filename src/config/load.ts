import { readFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { configSchema, type BridgeConfig, type ConfigFile } from "./schema.js";
import { asError } from "../core/errors.js";

/** A configuration that cannot be used; the message names the file, the key and what is wrong. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly problems: readonly string[] = [],
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

/** The environment variables the config reads (process.env, or a test's own). */
export type Environment = Readonly<Record<string, string | undefined>>;

const keyName = (path: readonly PropertyKey[]): string => (path.length > 0 ? path.map(String).join(".") : "(top level)");

/** Keys whose values are never repeated in an error. */
const SECRET_KEY = /password|token|secret/i;

const EXPECTED: Readonly<Record<string, string>> = {
  number: "a number",
  int: "a whole number",
  string: "a string",
  boolean: "a boolean",
  array: "a list",
  object: "a mapping",
  record: "a mapping",
};

/** What a config value is, in words: `the string "9000"`, `the number 8008`, `a list`. A secret's value is not shown. */
export function describeValue(value: unknown, secret = false): string {
  if (value === null) return "an empty value";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  if (secret) return `a ${typeof value}`;
  if (typeof value === "string") return `the string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)}`;
  return `the ${typeof value} ${String(value)}`;
}

const bound = (issue: { inclusive?: boolean }, inclusive: string, exclusive: string): string => (issue.inclusive === false ? exclusive : inclusive);

/**
 * The messages of the issues an admin meets most: a value of the wrong type, an option not in the list, a
 * number out of range. Each says what was expected and what was given. Others keep the schema's message.
 */
function messageOf(issue: z.core.$ZodRawIssue): string | undefined {
  const secret = SECRET_KEY.test(String(issue.path?.at(-1) ?? ""));
  switch (issue.code) {
    case "invalid_type": {
      if (issue.input === undefined) return undefined;
      const description = issue.inst ? z.globalRegistry.get(issue.inst as z.ZodType)?.description : undefined;
      return `expected ${EXPECTED[issue.expected] ?? issue.expected}${description ? ` (${description})` : ""}, got ${describeValue(issue.input, secret)}`;
    }
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${describeValue(issue.input, secret)}`;
    case "too_small":
      if (issue.origin === "string" && issue.minimum === 1) return "must not be empty";
      if (issue.origin !== "number") return undefined;
      return `${bound(issue, "must be at least", "must be more than")} ${String(issue.minimum)}, got ${describeValue(issue.input, secret)}`;
    case "too_big":
      if (issue.origin !== "number") return undefined;
      return `${bound(issue, "must be at most", "must be less than")} ${String(issue.maximum)}, got ${describeValue(issue.input, secret)}`;
    default:
      return undefined;
  }
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  if (issue.code === "unrecognized_keys") return issue.keys.map((k) => `${keyName([...issue.path, k])}: unknown key (misspelt?)`);
  if (issue.code === "invalid_type" && issue.input === undefined) return [`${keyName(issue.path)}: is required`];
  return [`${keyName(issue.path)}: ${issue.message}`];
}

const problemsError = (file: string, problems: string[]): ConfigError =>
  new ConfigError(`${file} has ${problems.length} problem(s):\n  ${problems.join("\n  ")}`, file, problems);

/**
 * The component secret: the XMPP_PASSWORD environment variable, else the file `xmpp.passwordFile` names
 * (relative to the config file; a final line break is not part of it), else `xmpp.password`.
 */
function componentSecret(xmpp: ConfigFile["xmpp"], file: string, env: Environment): string {
  const fromEnv = env.XMPP_PASSWORD;
  if (fromEnv) return fromEnv;
  if (xmpp.password !== undefined && xmpp.passwordFile !== undefined) {
    throw problemsError(file, ["xmpp.password, xmpp.passwordFile: set one of them, not both"]);
  }
  if (xmpp.password !== undefined) return xmpp.password;
  if (xmpp.passwordFile === undefined) {
    throw problemsError(file, ["xmpp.password: is required (or xmpp.passwordFile, a file holding it, or the XMPP_PASSWORD environment variable)"]);
  }
  const path = resolve(dirname(file), xmpp.passwordFile);
  let secret: string;
  try {
    secret = readFileSync(path, "utf8").replace(/\r?\n$/, "");
  } catch (err) {
    throw problemsError(file, [`xmpp.passwordFile: cannot read ${path}: ${asError(err).message}`]);
  }
  if (secret === "") throw problemsError(file, [`xmpp.passwordFile: ${path} is empty`]);
  return secret;
}

export function parseConfig(text: string, file: string, env: Environment = process.env): BridgeConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` (line ${err.linePos[0].line})` : "";
    throw new ConfigError(`${file} is not valid YAML${where}: ${asError(err).message}`, file);
  }
  const result = configSchema.safeParse(raw ?? {}, { reportInput: true, error: messageOf });
  if (!result.success) throw problemsError(file, result.error.issues.flatMap(describeIssue));
  const { password: _password, passwordFile: _passwordFile, ...xmpp } = result.data.xmpp;
  // Without a permissions table the bridge serves its own homeserver's users, never everyone it federates with.
  const permissions = result.data.bridge.permissions ?? { [result.data.homeserver.domain]: "user" };
  return { ...result.data, xmpp: { ...xmpp, password: componentSecret(result.data.xmpp, file, env) }, bridge: { ...result.data.bridge, permissions } };
}

export async function loadConfig(file: string, env: Environment = process.env): Promise<BridgeConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${asError(err).message}`, file);
  }
  return parseConfig(text, file, env);
}
