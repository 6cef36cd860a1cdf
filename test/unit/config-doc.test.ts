import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { configSchema } from "../../src/config/schema.js";

const ROOT = new URL("../../../", import.meta.url).pathname;

/** The object inside a section's wrappers (a default, a prefault, optional). */
function objectOf(schema: z.ZodType): z.ZodObject | undefined {
  let inner: unknown = schema;
  while (inner && !(inner instanceof z.ZodObject)) inner = (inner as { _zod: { def: { innerType?: unknown } } })._zod.def.innerType;
  return inner as z.ZodObject | undefined;
}

/** Every key of the schema, as section.key. */
function schemaKeys(): string[] {
  return Object.entries(configSchema.shape).flatMap(([section, schema]) => {
    const object = objectOf(schema as z.ZodType);
    assert.ok(object, `${section} is a section`);
    return Object.keys(object.shape).map((key) => `${section}.${key}`);
  });
}

test("docs/configuration.md describes every key of the config schema", () => {
  const doc = readFileSync(`${ROOT}docs/configuration.md`, "utf8");
  const keys = schemaKeys();
  assert.ok(keys.length > 30, `found ${keys.length} keys`);
  assert.deepEqual(keys.filter((k) => !doc.includes(`| \`${k}\` |`)), []);
});
