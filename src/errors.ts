/**
 * The one error base of perun-ts (house style rule 7, after viem's BaseError).
 *
 * Every failure a user can meet is a subclass with a stable `code`, a short
 * message saying what was wrong, `details` naming the values that identify it,
 * and a `hint` saying what to do about it.
 */
export interface PerunErrorOptions {
  details?: Record<string, unknown>;
  hint?: string;
  cause?: unknown;
}

export class PerunError extends Error {
  /** Stable machine-readable identifier, e.g. `INVALID_SIGNATURE`. */
  readonly code: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: PerunErrorOptions = {}) {
    super(PerunError.format(message, options), options.cause === undefined ? {} : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
    this.hint = options.hint;
  }

  private static format(message: string, options: PerunErrorOptions): string {
    const lines = [message];
    if (options.details && Object.keys(options.details).length > 0) {
      lines.push(`Details: ${stringifyDetails(options.details)}`);
    }
    if (options.hint) lines.push(`Hint: ${options.hint}`);
    return lines.join("\n");
  }
}

/** Input to a public function had the wrong shape or an out-of-range value. */
export class InvalidArgumentError extends PerunError {
  constructor(what: string, expected: string, got: unknown, hint?: string) {
    super("INVALID_ARGUMENT", `Invalid ${what}: expected ${expected}, got ${describe(got)}.`, {
      details: { what, expected, got: describe(got) },
      ...(hint === undefined ? {} : { hint }),
    });
  }
}

export function describe(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "string") return value.length > 80 ? `"${value.slice(0, 77)}..."` : `"${value}"`;
  if (value === undefined) return "undefined";
  try {
    const s = JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? `${v}n` : v));
    return s === undefined ? String(value) : s.length > 120 ? `${s.slice(0, 117)}...` : s;
  } catch {
    // String() of a deeply nested array recurses as deep as JSON.stringify did: it may overflow too.
    try {
      return String(value).slice(0, 120);
    } catch {
      return Array.isArray(value) ? "[a deeply nested array]" : `[${typeof value}]`;
    }
  }
}

function stringifyDetails(details: Record<string, unknown>): string {
  return Object.entries(details)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : describe(v)}`)
    .join(", ");
}
