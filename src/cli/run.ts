/**
 * The `perun` command line. Every bad argument gets a message saying what was
 * wrong and exit code 2; every other failure a PerunError message and exit 1.
 * Commands are imported lazily: `perun help` and usage errors need no chain code.
 */
import { parseArgs } from "node:util";
import { PerunError } from "../errors.js";
import { UsageError } from "./usage-error.js";

const USAGE = `perun - Perun state channels on EVM chains

Usage:
  perun demo [--rpc <url>]                  deploy the contracts and run a two-party ledger channel:
                                            open (deposit) -> off-chain payments -> cooperative close
                                            -> withdraw, printing on-chain balances. Without --rpc it
                                            runs on the embedded chain (Hardhat EDR, in process).
  perun chain [--port 8545] [--deploy]      serve the embedded chain over JSON-RPC on 127.0.0.1
  perun deploy --rpc <url> [--key <hex>]    deploy Adjudicator and AssetHolderETH, print addresses
  perun help                                this text
`;

const OPTIONS = {
  rpc: { type: "string" },
  key: { type: "string" },
  port: { type: "string" },
  host: { type: "string" },
  deploy: { type: "boolean" },
  payments: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export async function main(argv: string[]): Promise<number> {
  try {
    let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>;
    try {
      parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const { values, positionals } = parsed;
    const [command, ...rest] = positionals;
    if (values.help || command === undefined || command === "help") {
      process.stdout.write(USAGE);
      return 0;
    }
    if (rest.length > 0) throw new UsageError(`Unexpected argument "${rest[0]}" after "${command}".`);
    switch (command) {
      case "chain":
        await (await import("./chain-command.js")).chainCommand({
          ...(values.port === undefined ? {} : { port: values.port }),
          ...(values.host === undefined ? {} : { host: values.host }),
          deploy: values.deploy === true,
        });
        return 0;
      case "deploy":
        await (await import("./deploy-command.js")).deployCommand({
          ...(values.rpc === undefined ? {} : { rpc: values.rpc }),
          ...(values.key === undefined ? {} : { key: values.key }),
        });
        return 0;
      case "demo":
        await (await import("./demo-command.js")).demoCommand({
          ...(values.rpc === undefined ? {} : { rpc: values.rpc }),
          ...(values.payments === undefined ? {} : { payments: values.payments }),
        });
        return 0;
      default:
        throw new UsageError(`Unknown command "${command}".`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`perun: ${err.message}\n`);
      return 2;
    }
    if (err instanceof PerunError) {
      process.stderr.write(`perun: ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`perun: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}
