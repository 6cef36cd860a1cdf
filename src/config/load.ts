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

/** Where a secret may be given: its key in the config, the key of a file holding it, and an environment variable. */
interface SecretSource {
  key: string;
  value: string | undefined;
  fileKey: string;
  file: string | undefined;
  envVar: string;
}

/**
 * A secret: its environment variable, else the file its `fileKey` names (relative to the config file; a
 * final line break is not part of it), else its key's value; undefined when none gives it.
 */
function secretOf({ key, value, fileKey, file: secretFile, envVar }: SecretSource, file: string, env: Environment): string | undefined {
  const fromEnv = env[envVar];
  if (fromEnv) return fromEnv;
  if (value !== undefined && secretFile !== undefined) throw problemsError(file, [`${key}, ${fileKey}: set one of them, not both`]);
  if (secretFile === undefined) return value;
  const path = resolve(dirname(file), secretFile);
  let secret: string;
  try {
    secret = readFileSync(path, "utf8").replace(/\r?\n$/, "");
  } catch (err) {
    throw problemsError(file, [`${fileKey}: cannot read ${path}: ${asError(err).message}`]);
  }
  if (secret === "") throw problemsError(file, [`${fileKey}: ${path} is empty`]);
  return secret;
}

const requiredSecret = (source: SecretSource, file: string, env: Environment, why = ""): string => {
  const secret = secretOf(source, file, env);
  if (secret === undefined) throw problemsError(file, [`${source.key}: is required${why} (or ${source.fileKey}, a file holding it, or the ${source.envVar} environment variable)`]);
  return secret;
};

/** The provisioning API's bearer token: long enough that guessing it is hopeless. */
const MIN_PROVISIONING_SECRET = 16;

function provisioningSecret(provisioning: ConfigFile["provisioning"], file: string, env: Environment): string | undefined {
  const source = { key: "provisioning.secret", value: provisioning.secret, fileKey: "provisioning.secretFile", file: provisioning.secretFile, envVar: "PROVISIONING_SECRET" };
  if (!provisioning.enabled) return undefined;
  const secret = requiredSecret(source, file, env, " when provisioning.enabled is true");
  if (secret.length < MIN_PROVISIONING_SECRET) throw problemsError(file, [`provisioning.secret: must be at least ${MIN_PROVISIONING_SECRET} characters long`]);
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
  const { password, passwordFile, ...xmpp } = result.data.xmpp;
  const componentSecret = requiredSecret({ key: "xmpp.password", value: password, fileKey: "xmpp.passwordFile", file: passwordFile, envVar: "XMPP_PASSWORD" }, file, env);
  const { secret: _secret, secretFile: _secretFile, ...provisioning } = result.data.provisioning;
  const provisioningToken = provisioningSecret(result.data.provisioning, file, env);
  // Without a permissions table the bridge serves its own homeserver's users, never everyone it federates with.
  const permissions = result.data.bridge.permissions ?? { [result.data.homeserver.domain]: "user" };
  return {
    ...result.data,
    xmpp: { ...xmpp, password: componentSecret },
    provisioning: { ...provisioning, ...(provisioningToken ? { secret: provisioningToken } : {}) },
    bridge: { ...result.data.bridge, permissions },
  };
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
