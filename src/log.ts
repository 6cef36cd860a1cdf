import { pino, type Logger, type DestinationStream } from "pino";

export type { Logger };

export interface LogOptions {
  level: string;
  format: "json" | "text";
}

/** Keys that hold secrets anywhere in a log record; they are never printed. */
const REDACTED = [
  "password", "*.password", "secret", "*.secret",
  "as_token", "hs_token", "*.as_token", "*.hs_token", "accessToken", "*.accessToken",
];

/**
 * Standard output, written to asynchronously: a log line (one per message bridged) never holds the
 * bridge up on a slow reader, as Node's own writes to a pipe would. What is pending when the process
 * exits is written then.
 */
const standardOutput = (): DestinationStream => pino.destination({ dest: 1, sync: false });

/** One readable line a record for a terminal: time, level, module, message, then the fields. */
function textDestination(out: DestinationStream): DestinationStream {
  return {
    write(line: string) {
      const { time, level, msg, module, ...fields } = JSON.parse(line) as Record<string, unknown>;
      const rest = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : "";
      out.write(`${new Date(time as number).toISOString()} ${String(level).padEnd(5)} [${String(module ?? "bridge")}] ${String(msg ?? "")}${rest}\n`);
    },
  };
}

/** Every child of a logger createLogger made, so that a new level reaches them all (pino children keep their own). */
const childrenOf = new WeakMap<Logger, Set<WeakRef<Logger>>>();

/** Sets the level of a logger createLogger made and of all its children. */
export function setLogLevel(log: Logger, level: string): void {
  log.level = level;
  for (const ref of childrenOf.get(log) ?? []) {
    const child = ref.deref();
    if (child) child.level = level;
    else childrenOf.get(log)?.delete(ref);
  }
}

export function createLogger(options: LogOptions): Logger {
  const children = new Set<WeakRef<Logger>>();
  const base = {
    level: options.level,
    // Inherited by children, so grandchildren are noted too.
    onChild: (child: Logger) => void children.add(new WeakRef(child)),
    redact: { paths: REDACTED, censor: "[redacted]" },
    // An error logged as { err } keeps its type, message, stack and the messages and stacks of its causes.
    serializers: { err: pino.stdSerializers.err },
    base: undefined,
  };
  const out = standardOutput();
  const logger = pino({ ...base, formatters: { level: (label) => ({ level: label }) } }, options.format === "text" ? textDestination(out) : out);
  childrenOf.set(logger, children);
  return logger;
}
