/** Thrown values, which TypeScript types as unknown. Pure functions. */

/** A thrown value as an Error: the value itself when it is one, otherwise an Error with its message (or its text) and the value as cause. */
export function asError(value: unknown): Error {
  if (value instanceof Error) return value;
  const message = (value as { message?: unknown } | null | undefined)?.message;
  return new Error(typeof message === "string" ? message : String(value), { cause: value });
}
