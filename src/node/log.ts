/**
 * The node's log: one JSON object per line on stderr ({"t", "level", "msg", ...details}), so that
 * operators grep it and tools parse it. Bigints become decimal strings, errors their first line.
 */
import type { Logger, LogLevel } from "../client/client.js";

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** A Logger writing JSON lines to `out` (default stderr), dropping levels below `min`. */
export function jsonLogger(
  out: { write(line: string): unknown } = process.stderr,
  min: LogLevel = "info",
  base: Record<string, unknown> = {},
): Logger {
  return (level, msg, details) => {
    if (ORDER[level] < ORDER[min]) return;
    const line = { t: new Date().toISOString(), level, msg, ...base, ...(details ?? {}) };
    out.write(`${JSON.stringify(line, jsonSafe)}\n`);
  };
}

/** JSON.stringify replacer: bigints as decimal strings, errors as their message. */
export function jsonSafe(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Error) return value.message.split("\n")[0];
  return value;
}
