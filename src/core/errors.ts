/** Thrown values, which TypeScript types as unknown. Pure functions. */

/** A thrown value as an Error: the value itself when it is one, otherwise an Error with its message (or its text) and the value as cause. */
export function asError(value: unknown): Error {
  if (value instanceof Error) return value;
  const message = (value as { message?: unknown } | null | undefined)?.message;
  return new Error(typeof message === "string" ? message : String(value), { cause: value });
}

/**
 * Input the bridge cannot take now: it already holds as much as it may while its store is away. Its
 * sender is told to try again later (an XMPP error of type wait), never left to think it arrived.
 */
export class InputRefusedError extends Error {
  constructor() {
    super("the bridge holds too much input while its store is away; try again later");
    this.name = "InputRefusedError";
  }
}
