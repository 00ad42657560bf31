/**
 * The logging hook of the wire layer (design.md section 6): transports report dropped frames, failed
 * handshakes and closed connections through it instead of throwing at the peer's whim.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

export type Logger = (level: LogLevel, msg: string, details?: Record<string, unknown>) => void;

/** Default: warnings and errors to stderr, the rest dropped. */
export function defaultLog(level: LogLevel, msg: string, details?: Record<string, unknown>): void {
  if (level === "warn" || level === "error") console.error(`[${level}] ${msg}`, details ?? "");
}
