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
  perun deploy --rpc <url> [--key <hex>]    deploy Adjudicator, AssetHolderETH and the example apps
                                            (tic-tac-toe), print addresses

  perun key new --out <file>                create a key, write it as a V3 keystore encrypted with the
                                            password in PERUN_KEY_PASSWORD; print its address
  perun node --config <file>                run a node (channels, watcher, local API) until SIGTERM;
                                            prints {address, chainId, apiUrl, apiSecretFile,
                                            wireUrl} once it is up; the API secret is created at
                                            first start in <dataDir>/<db name>.api-secret (mode
                                            0600; dataDir: by default the directory of the db)

  Talking to a running node (--api defaults to http://127.0.0.1:5001; amounts in ether, e.g. 1.5).
  Each request carries the node's API secret, which only the node's user can read: run these as that
  user and they find it by themselves (the pointer file the node leaves in $XDG_RUNTIME_DIR/perun or
  ~/.perun/run), or name it with --api-secret-file <file> or $PERUN_API_SECRET_FILE:
  perun open --api <url> --peer <0x..> [--peer-url ws://..] --deposit <eth> [--peer-deposit <eth>]
             [--asset ETH] [--challenge-duration <s>]
                                            open a ledger channel; prints its id once funded
  perun open-virtual --api <url> --peer <0x..> --via <0x..> --ledger <id> --peer-ledger <id>
             --deposit <eth> [--peer-deposit <eth>] (--fee <eth> | --via-api <url>) --seconds <n>
                                            open a virtual channel with --peer through the
                                            intermediary --via (no transaction): --ledger is our
                                            ledger channel with her, --peer-ledger hers with the
                                            peer; we pay her --fee, or the fee her terms ask for
                                            (quoted from GET <via-api>/v1/info) for --seconds of
                                            validity. Prints its id once our side is locked.
                                            Several intermediaries: --via, --peer-ledger and --fee
                                            (or --via-api) are comma-separated lists in path order
                                            from us to the peer; --ledger is ours with the first,
                                            --peer-ledger the channels after it (I1-I2, ..., In-peer)
  perun open-virtual --api <url> --peer <0x..> --deposit <eth> [--peer-deposit <eth>] --seconds <n>
             --auto --directory <url,url,..>
                                            the same, with the path found: the nodes at the
                                            --directory API URLs (intermediaries, the peer) publish
                                            their terms and ledger channels (GET /v1/info, /v1/graph);
                                            the cheapest path with the capacity is printed on stderr.
                                            With --app tictactoe [--first 0|1], V runs the game (a
                                            virtual state channel; perun app move plays it)
  perun pay --api <url> --channel <id> --amount <eth>
                                            pay the peer in the channel (ledger or virtual)
  perun channels --api <url>                list channels: id, peer, via (the intermediary, once
                                            any channel is virtual), phase, version, balances
  perun close --api <url> --channel <id> [--force]
                                            close cooperatively (or by dispute with --force) and
                                            withdraw; returns once our funds are withdrawn. A virtual
                                            channel closes cooperatively only: its funds return to
                                            our ledger channel (dispute: close that with --force)
  perun dispute --api <url> --channel <id>  register our latest state on chain (ledger channels)
  perun app open tictactoe --peer <0x..> --deposit <eth> [--peer-deposit <eth>] [--first 0|1]
             [--peer-url ws://..] [--challenge-duration <s>]
                                            open a channel that runs the app (both nodes must play
                                            it: config contracts.apps); the stake goes to the winner,
                                            back to each on a draw. Prints its id once funded
  perun app move --channel <id> (--cell <0..8> | --data <json>)
                                            our move (cells row by row); in a dispute it goes on chain
  perun app show --channel <id>             the board, whose turn it is, the result and the stakes
  perun help                                this text

Exit codes: 0 ok, 1 failure (message on stderr), 2 bad arguments or config file.
`;

const OPTIONS = {
  rpc: { type: "string" },
  key: { type: "string" },
  port: { type: "string" },
  host: { type: "string" },
  deploy: { type: "boolean" },
  payments: { type: "string" },
  config: { type: "string" },
  out: { type: "string" },
  api: { type: "string" },
  "api-secret-file": { type: "string" },
  peer: { type: "string" },
  "peer-url": { type: "string" },
  deposit: { type: "string" },
  "peer-deposit": { type: "string" },
  asset: { type: "string" },
  channel: { type: "string" },
  amount: { type: "string" },
  force: { type: "boolean" },
  via: { type: "string" },
  "via-api": { type: "string" },
  ledger: { type: "string" },
  "peer-ledger": { type: "string" },
  fee: { type: "string" },
  seconds: { type: "string" },
  "challenge-duration": { type: "string" },
  auto: { type: "boolean" },
  directory: { type: "string" },
  cell: { type: "string" },
  data: { type: "string" },
  first: { type: "string" },
  app: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Options each API client command takes; any other is refused rather than silently ignored. */
const API_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  open: [
    "api",
    "api-secret-file",
    "peer",
    "peer-url",
    "deposit",
    "peer-deposit",
    "asset",
    "challenge-duration",
  ],
  "open-virtual": [
    "api",
    "api-secret-file",
    "peer",
    "via",
    "ledger",
    "peer-ledger",
    "deposit",
    "peer-deposit",
    "fee",
    "via-api",
    "seconds",
    "auto",
    "directory",
    "app",
    "first",
  ],
  pay: ["api", "api-secret-file", "channel", "amount"],
  channels: ["api", "api-secret-file"],
  close: ["api", "api-secret-file", "channel", "force"],
  dispute: ["api", "api-secret-file", "channel"],
  "app open": [
    "api",
    "api-secret-file",
    "peer",
    "peer-url",
    "deposit",
    "peer-deposit",
    "first",
    "challenge-duration",
  ],
  "app move": ["api", "api-secret-file", "channel", "cell", "data"],
  "app show": ["api", "api-secret-file", "channel"],
};

/** The options given to API command `command` (e.g. "pay", "app move"); any it does not take is a UsageError. */
function allowedOptions(command: string, values: Record<string, unknown>): Record<string, unknown> {
  const allowed = API_OPTIONS[command] ?? [];
  const given = Object.entries(values).filter(([, v]) => v !== undefined);
  for (const [k] of given) {
    if (!allowed.includes(k)) throw new UsageError(`--${k} does not apply to \`perun ${command}\`.`);
  }
  return Object.fromEntries(given);
}

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
    if (command === "key") {
      if (rest.length > 1) throw new UsageError(`Unexpected argument "${rest[1]}" after "key ${rest[0]}".`);
      await (await import("./key-command.js")).keyCommand(rest[0], {
        ...(values.out === undefined ? {} : { out: values.out }),
      });
      return 0;
    }
    if (command === "app") {
      const [sub, name, ...more] = rest;
      if (more.length > 0)
        throw new UsageError(`Unexpected argument "${more[0]}" after "app ${sub} ${name}".`);
      if (API_OPTIONS[`app ${sub}`] === undefined)
        throw new UsageError("perun app needs one of: open, move, show.");
      const args = allowedOptions(`app ${sub}`, values);
      await (await import("./api-commands.js")).appApiCommand(sub as string, name, args);
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
      case "node":
        await (await import("./node-command.js")).nodeCommand({
          ...(values.config === undefined ? {} : { config: values.config }),
        });
        return 0;
      case "open":
      case "open-virtual":
      case "pay":
      case "channels":
      case "close":
      case "dispute": {
        const args = allowedOptions(command, values);
        await (await import("./api-commands.js")).apiCommand(command, args);
        return 0;
      }
      default:
        throw new UsageError(`Unknown command "${command}".`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err instanceof PerunError && err.code === "CONFIG_INVALID")) {
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
