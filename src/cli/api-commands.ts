/**
 * `perun open | pay | channels | close | dispute`: thin clients of a running node's local API
 * (src/node/api.ts). Amounts on the command line are in ether units (18 decimals, e.g. 1.5), parsed
 * exactly with viem's parseEther; the API itself speaks wei. Arguments are checked here (UsageError,
 * exit 2); what the node refuses comes back as ApiError (exit 1).
 */
import { formatEther, getAddress, isAddress, parseEther } from "viem";
import type { Address, Hex } from "../channel/types.js";
import { type ApiChannel, ApiClient } from "../node/api-client.js";
import { UsageError } from "./usage-error.js";

export interface ApiArgs {
  api?: string;
  peer?: string;
  "peer-url"?: string;
  deposit?: string;
  "peer-deposit"?: string;
  asset?: string;
  channel?: string;
  amount?: string;
  force?: boolean;
}

export const DEFAULT_API = "http://127.0.0.1:5001";

export async function apiCommand(command: string, args: ApiArgs, out = process.stdout): Promise<void> {
  const api = new ApiClient(apiUrl(args.api));
  switch (command) {
    case "open": {
      const peer = address(need(args.peer, "--peer", command), "--peer");
      const peerUrl = args["peer-url"];
      if (peerUrl !== undefined && !/^wss?:\/\/[^\s]+$/.test(peerUrl)) {
        throw new UsageError(`--peer-url must be a ws:// or wss:// URL, got "${peerUrl}".`);
      }
      if (args.asset !== undefined && !/^[A-Za-z0-9_-]{1,16}$/.test(args.asset)) {
        throw new UsageError(
          `--asset must be an asset symbol from the node's config (e.g. ETH), got "${args.asset}".`,
        );
      }
      const deposit = ether(need(args.deposit, "--deposit", command), "--deposit");
      const peerDeposit = ether(args["peer-deposit"] ?? "0", "--peer-deposit");
      if (deposit === 0n && peerDeposit === 0n)
        throw new UsageError("--deposit or --peer-deposit must be positive.");
      const { channelID } = await api.open({
        peer,
        deposit,
        peerDeposit,
        ...(peerUrl === undefined ? {} : { peerUrl }),
        ...(args.asset === undefined ? {} : { asset: args.asset }),
      });
      out.write(`${channelID}\n`);
      return;
    }
    case "pay": {
      const id = channel(args.channel);
      const amount = ether(need(args.amount, "--amount", command), "--amount");
      if (amount === 0n) throw new UsageError("--amount must be positive.");
      const r = await api.pay(id, amount);
      const c = await api.channel(id);
      out.write(`version ${r.version}: ${balancesText({ ...c, balances: r.balances })}\n`);
      return;
    }
    case "channels": {
      out.write(table(await api.channels()));
      return;
    }
    case "close": {
      const id = channel(args.channel);
      await api.close(id, args.force === true);
      out.write(`closed ${id}; our funds are withdrawn\n`);
      return;
    }
    case "dispute": {
      const id = channel(args.channel);
      await api.dispute(id);
      out.write(`dispute started for ${id}; the node concludes and withdraws after the challenge duration\n`);
      return;
    }
    default:
      throw new UsageError(`Unknown command "${command}".`);
  }
}

function apiUrl(s: string | undefined): string {
  const url = s ?? DEFAULT_API;
  if (!/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}\/?$/.test(url)) {
    throw new UsageError(`--api must be the node's local API URL, http://127.0.0.1:<port>, got "${url}".`);
  }
  return url;
}

function need(v: string | undefined, flag: string, command: string): string {
  if (v === undefined) throw new UsageError(`perun ${command} needs ${flag}.`);
  return v;
}

function address(s: string, flag: string): Address {
  if (!isAddress(s, { strict: true }))
    throw new UsageError(`${flag} must be an address (0x + 40 hex digits), got "${s}".`);
  return getAddress(s);
}

function channel(s: string | undefined): Hex {
  if (s === undefined) throw new UsageError("This command needs --channel <id>.");
  if (!/^0x[0-9a-fA-F]{64}$/.test(s))
    throw new UsageError(`--channel must be a channel id (0x + 64 hex digits), got "${s}".`);
  return s as Hex;
}

/** An amount in ether units: digits with at most 18 decimals; no signs, exponents or commas. */
export function ether(s: string, flag: string): bigint {
  if (!/^(0|[1-9][0-9]*)(\.[0-9]{1,18})?$|^\.[0-9]{1,18}$/.test(s)) {
    throw new UsageError(
      `${flag} must be an amount in ether with at most 18 decimals (e.g. 1.5), got "${s}".`,
    );
  }
  return parseEther(s);
}

function balancesText(c: Pick<ApiChannel, "balances" | "assets" | "idx">): string {
  if (c.balances === null) return "-";
  return c.balances
    .map((row, a) => {
      const sym = c.assets[a]?.symbol ?? "?";
      const ours = formatEther(BigInt(row[c.idx] ?? "0"));
      const theirs = formatEther(BigInt(row[1 - c.idx] ?? "0"));
      return `ours ${ours} ${sym}, peer ${theirs} ${sym}`;
    })
    .join("; ");
}

function table(channels: ApiChannel[]): string {
  if (channels.length === 0) return "no channels\n";
  const rows = [
    ["CHANNEL", "PEER", "PHASE", "VERSION", "BALANCES"],
    ...channels.map((c) => [c.channelID, c.peer, c.phase, c.version ?? "-", balancesText(c)]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return (
    rows
      .map((r) =>
        r
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join("  ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}
