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

/** The keys of a section, as section.key; a group of keys inside it, as section.group.key. */
function keysOf(path: string, object: z.ZodObject): string[] {
  return Object.entries(object.shape).flatMap(([key, schema]) => {
    const group = objectOf(schema as z.ZodType);
    return group ? keysOf(`${path}.${key}`, group) : [`${path}.${key}`];
  });
}

/** Every key of the schema. */
function schemaKeys(): string[] {
  return Object.entries(configSchema.shape).flatMap(([section, schema]) => {
    const object = objectOf(schema as z.ZodType);
    assert.ok(object, `${section} is a section`);
    return keysOf(section, object);
  });
}

test("docs/configuration.md describes every key of the config schema", () => {
  const doc = readFileSync(`${ROOT}docs/configuration.md`, "utf8");
  const keys = schemaKeys();
  assert.ok(keys.length > 30, `found ${keys.length} keys`);
  assert.deepEqual(keys.filter((k) => !doc.includes(`| \`${k}\` |`)), []);
});
