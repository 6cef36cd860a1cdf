import { readFile } from "node:fs/promises";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { configSchema, type BridgeConfig } from "./schema.js";
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

const keyName = (path: readonly PropertyKey[]): string => (path.length > 0 ? path.map(String).join(".") : "(top level)");

function describeIssue(issue: z.core.$ZodIssue): string[] {
  if (issue.code === "unrecognized_keys") return issue.keys.map((k) => `${keyName([...issue.path, k])}: unknown key (misspelt?)`);
  if (issue.code === "invalid_type" && issue.input === undefined) return [`${keyName(issue.path)}: is required`];
  return [`${keyName(issue.path)}: ${issue.message}`];
}

export function parseConfig(text: string, file: string): BridgeConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` (line ${err.linePos[0].line})` : "";
    throw new ConfigError(`${file} is not valid YAML${where}: ${asError(err).message}`, file);
  }
  const result = configSchema.safeParse(raw ?? {});
  if (!result.success) {
    const problems = result.error.issues.flatMap(describeIssue);
    throw new ConfigError(`${file} has ${problems.length} problem(s):\n  ${problems.join("\n  ")}`, file, problems);
  }
  return result.data;
}

export async function loadConfig(file: string): Promise<BridgeConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${asError(err).message}`, file);
  }
  return parseConfig(text, file);
}
