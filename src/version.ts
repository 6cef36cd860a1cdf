import { readFileSync } from "node:fs";

/** The package's name and version, read once from package.json (two levels above dist/src). */
const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { name: string; version: string };

export const SOFTWARE_NAME = manifest.name;
export const SOFTWARE_VERSION = manifest.version;
