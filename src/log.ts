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

/** One readable line a record for a terminal: time, level, module, message, then the fields. */
function textDestination(): DestinationStream {
  return {
    write(line: string) {
      const { time, level, msg, module, ...fields } = JSON.parse(line) as Record<string, unknown>;
      const rest = Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : "";
      process.stdout.write(`${new Date(time as number).toISOString()} ${String(level).padEnd(5)} [${String(module ?? "bridge")}] ${String(msg ?? "")}${rest}\n`);
    },
  };
}

export function createLogger(options: LogOptions): Logger {
  const base = {
    level: options.level,
    redact: { paths: REDACTED, censor: "[redacted]" },
    // An error logged as { err } keeps its type, message, stack and the messages and stacks of its causes.
    serializers: { err: pino.stdSerializers.err },
    base: undefined,
  };
  if (options.format === "text") {
    return pino({ ...base, formatters: { level: (label) => ({ level: label }) } }, textDestination());
  }
  return pino({ ...base, formatters: { level: (label) => ({ level: label }) } });
}
