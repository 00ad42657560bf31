/** A bad command line: printed with the usage text and exit code 2. */
import { PerunError } from "../errors.js";

export class UsageError extends PerunError {
  constructor(message: string, hint = "Run `perun help` for the commands and their options.") {
    super("USAGE", message, { hint });
  }
}
