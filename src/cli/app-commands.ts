/**
 * `perun app open | move | show`: apps in channels through a running node's local API.
 *
 *   perun app open tictactoe --peer <0x..> --deposit <eth> [--peer-deposit <eth>] [--first 0|1]
 *   perun app move --channel <id> (--cell <0..8> | --data <json>)
 *   perun app show --channel <id>
 *
 * `open` proposes a channel that runs the app (the node must play it: its config's `contracts.apps`)
 * and prints its id once funded; `move` makes our move (tic-tac-toe: --cell, any app: --data as the
 * app takes it) and prints the new state; `show` prints it: for tic-tac-toe the board, whose turn it
 * is and the result. In a dispute a move goes on chain (the node sends `progress`).
 */
import { formatEther } from "viem";
import type { ApiChannel, ApiClient } from "../node/api-client.js";
import type { Output } from "./api-commands.js";
import { address, balancesText, channel, ether, need, positiveInt } from "./api-commands.js";
import { UsageError } from "./usage-error.js";

export interface AppArgs {
  peer?: string;
  "peer-url"?: string;
  deposit?: string;
  "peer-deposit"?: string;
  "challenge-duration"?: string;
  channel?: string;
  cell?: string;
  data?: string;
  first?: string;
}

export const APP_SUBCOMMANDS = ["open", "move", "show"] as const;

export async function appCommand(
  api: ApiClient,
  sub: string | undefined,
  name: string | undefined,
  args: AppArgs,
  out: Output,
): Promise<void> {
  if (sub !== "open" && name !== undefined)
    throw new UsageError(`Unexpected argument "${name}" after "app ${sub}".`);
  switch (sub) {
    case "open": {
      if (name === undefined)
        throw new UsageError("perun app open needs the app's name, e.g. `perun app open tictactoe`.");
      const peer = address(need(args.peer, "--peer", "app open"), "--peer");
      const deposit = ether(need(args.deposit, "--deposit", "app open"), "--deposit");
      const peerDeposit = ether(args["peer-deposit"] ?? args.deposit ?? "0", "--peer-deposit");
      if (args.first !== undefined && args.first !== "0" && args.first !== "1") {
        throw new UsageError(`--first must be 0 (we move first) or 1 (the peer does), got "${args.first}".`);
      }
      const peerUrl = args["peer-url"];
      if (peerUrl !== undefined && !/^wss?:\/\/[^\s]+$/.test(peerUrl)) {
        throw new UsageError(`--peer-url must be a ws:// or wss:// URL, got "${peerUrl}".`);
      }
      const { channelID } = await api.open({
        peer,
        deposit,
        peerDeposit,
        app: name,
        ...(args.first === undefined ? {} : { appOptions: { first: Number(args.first) } }),
        ...(peerUrl === undefined ? {} : { peerUrl }),
        ...(args["challenge-duration"] === undefined
          ? {}
          : {
              challengeDuration: positiveInt(
                args["challenge-duration"],
                "--challenge-duration",
                365 * 86_400,
              ),
            }),
      });
      out.write(`${channelID}\n`);
      return;
    }
    case "move": {
      const id = channel(args.channel);
      if ((args.cell === undefined) === (args.data === undefined)) {
        throw new UsageError("perun app move needs the move: --cell <0..8> (tic-tac-toe) or --data <json>.");
      }
      let data: unknown;
      if (args.cell !== undefined) {
        if (!/^[0-8]$/.test(args.cell))
          throw new UsageError(`--cell must be 0..8 (row by row), got "${args.cell}".`);
        data = { cell: Number(args.cell) };
      } else {
        try {
          data = JSON.parse(args.data as string);
        } catch {
          throw new UsageError(`--data must be JSON, e.g. '{"cell": 4}', got "${args.data}".`);
        }
      }
      out.write(appText(await api.move(id, data)));
      return;
    }
    case "show":
      out.write(appText(await api.channel(channel(args.channel))));
      return;
    default:
      throw new UsageError(`perun app needs one of: ${APP_SUBCOMMANDS.join(", ")}.`);
  }
}

interface TicTacToeView {
  readonly board: readonly string[];
  readonly nextActor: number;
  readonly winner: number | null;
  readonly draw: boolean;
}

/** An app channel for people: the board (tic-tac-toe) or the app's state as JSON, and the stakes. */
export function appText(c: ApiChannel): string {
  if (c.app === undefined) return `${c.channelID} is not an app channel (${c.phase}).\n`;
  const head = `${c.channelID}  ${c.app.name}  version ${c.version ?? "-"}  ${c.phase}\n`;
  const stakes = `stakes: ${balancesText(c)}\n`;
  if (c.app.name !== "tictactoe" || c.app.state === null) {
    return `${head}${JSON.stringify(c.app.state)}\n${stakes}`;
  }
  const v = c.app.state as TicTacToeView;
  const mark = (i: number) => (i === 0 ? "X" : "O");
  const who = (i: number) => (i === c.idx ? "you" : "the peer");
  const rows = v.board.map((r) => `  ${[...r].join(" ")}\n`).join("");
  const result =
    v.winner !== null
      ? `${mark(v.winner)} (${who(v.winner)}) won`
      : v.draw
        ? "a draw"
        : `${mark(v.nextActor)} to move (${v.nextActor === c.idx ? "your turn" : "the peer's turn"})`;
  const pot = c.balances?.[0]?.reduce((s, b) => s + BigInt(b), 0n) ?? 0n;
  return `${head}${rows}you are ${mark(c.idx)}; ${result}; pot ${formatEther(pot)}\n${stakes}`;
}
