/**
 * `perun open | open-virtual | pay | channels | close | dispute`: thin clients of a running node's
 * local API (src/node/api.ts). Amounts on the command line are in ether units (18 decimals, e.g.
 * 1.5), parsed exactly with viem's parseEther; the API itself speaks wei. Arguments are checked here
 * (UsageError, exit 2); what the node refuses comes back as ApiError (exit 1).
 *
 * `open-virtual` pays the intermediary a fee: given with --fee, or quoted from the terms she
 * publishes in GET /v1/info (--via-api): rentalFee(terms, deposit + peer deposit, seconds).
 */
import { formatEther, getAddress, isAddress, parseEther } from "viem";
import { rentalFee } from "../channel/fees.js";
import type { Address, Hex } from "../channel/types.js";
import { PerunError } from "../errors.js";
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
  via?: string;
  "via-api"?: string;
  ledger?: string;
  "peer-ledger"?: string;
  fee?: string;
  seconds?: string;
}

/** Longest validity of a virtual channel the CLI asks for (2^32 s, as the API). */
const MAX_SECONDS = 2 ** 32;

export const DEFAULT_API = "http://127.0.0.1:5001";

/** Where a command prints its result (stdout; a buffer in tests). */
export interface Output {
  write(text: string): unknown;
}

export async function apiCommand(
  command: string,
  args: ApiArgs,
  out: Output = process.stdout,
): Promise<void> {
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
    case "open-virtual": {
      const peer = address(need(args.peer, "--peer", command), "--peer");
      const via = address(need(args.via, "--via", command), "--via");
      if (via === peer) throw new UsageError("--via must be the intermediary, not the peer.");
      const ledger = channel(need(args.ledger, "--ledger", command), "--ledger");
      const peerLedger = channel(need(args["peer-ledger"], "--peer-ledger", command), "--peer-ledger");
      if (ledger.toLowerCase() === peerLedger.toLowerCase()) {
        throw new UsageError("--peer-ledger must be the intermediary's channel with the peer, not --ledger.");
      }
      const deposit = ether(need(args.deposit, "--deposit", command), "--deposit");
      const peerDeposit = ether(args["peer-deposit"] ?? "0", "--peer-deposit");
      if (deposit === 0n && peerDeposit === 0n)
        throw new UsageError("--deposit or --peer-deposit must be positive.");
      const seconds = positiveInt(need(args.seconds, "--seconds", command), "--seconds", MAX_SECONDS);
      if ((args.fee === undefined) === (args["via-api"] === undefined)) {
        throw new UsageError(
          "perun open-virtual needs either --fee <eth> or --via-api <url> (to quote the fee from the intermediary's terms).",
        );
      }
      const fee =
        args.fee !== undefined
          ? ether(args.fee, "--fee")
          : await quote(httpUrl(args["via-api"] as string, "--via-api"), via, deposit + peerDeposit, seconds);
      const { channelID } = await api.openVirtual({
        peer,
        via,
        ledger,
        peerLedger,
        deposit,
        peerDeposit,
        fee,
        seconds,
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
      const v = (await api.channel(id)).virtual;
      out.write(
        v
          ? `closed virtual channel ${id}; our funds are unlocked into our ledger channel with ${v.path[1]}\n`
          : `closed ${id}; our funds are withdrawn\n`,
      );
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

function channel(s: string | undefined, flag = "--channel"): Hex {
  if (s === undefined) throw new UsageError(`This command needs ${flag} <id>.`);
  if (!/^0x[0-9a-fA-F]{64}$/.test(s))
    throw new UsageError(`${flag} must be a channel id (0x + 64 hex digits), got "${s}".`);
  return s as Hex;
}

function positiveInt(s: string, flag: string, max: number): number {
  const n = /^[1-9][0-9]{0,15}$/.test(s) ? Number(s) : Number.NaN;
  if (!(n >= 1 && n <= max)) throw new UsageError(`${flag} must be an integer from 1 to ${max}, got "${s}".`);
  return n;
}

/** Another node's API (the intermediary's, for her published terms): http(s)://host[:port]. */
function httpUrl(s: string, flag: string): string {
  if (!/^https?:\/\/[^\s/]+\/?$/.test(s)) {
    throw new UsageError(`${flag} must be a node API URL like http://127.0.0.1:5003, got "${s}".`);
  }
  return s;
}

/** The fee the intermediary's published terms ask for renting `collateral` for `seconds`. */
async function quote(url: string, via: Address, collateral: bigint, seconds: number): Promise<bigint> {
  const info = await new ApiClient(url).info();
  if (info.address.toLowerCase() !== via.toLowerCase()) {
    throw new UsageError(`--via-api ${url} is the API of ${info.address}, not of --via ${via}.`);
  }
  const t = info.intermediary ?? null; // absent: a node from before virtual channels
  if (t === null) {
    throw new PerunError(
      "NOT_AN_INTERMEDIARY",
      `${via} publishes no intermediary terms (GET ${url}/v1/info).`,
      {
        hint: 'Choose another intermediary, or ask its operator to set "intermediary" in the node\'s config.',
      },
    );
  }
  const wei = (x: unknown) => typeof x === "string" && /^(0|[1-9][0-9]{0,77})$/.test(x);
  if (!wei(t.baseFee) || !wei(t.ratePerSecondPerUnit) || !Number.isSafeInteger(t.maxDurationSeconds)) {
    throw new PerunError("BAD_TERMS", `The terms ${via} publishes are malformed: ${JSON.stringify(t)}.`, {
      hint: "Give the fee yourself with --fee.",
    });
  }
  return rentalFee(
    {
      baseFee: BigInt(t.baseFee),
      ratePerSecondPerUnit: BigInt(t.ratePerSecondPerUnit),
      maxDurationSeconds: BigInt(t.maxDurationSeconds),
    },
    collateral,
    BigInt(seconds),
  );
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

/** The channel list; a VIA column (the intermediary, "-" for ledger channels) once any is virtual. */
function table(channels: ApiChannel[]): string {
  if (channels.length === 0) return "no channels\n";
  const via = channels.some((c) => c.virtual !== undefined);
  const rows = [
    ["CHANNEL", "PEER", ...(via ? ["VIA"] : []), "PHASE", "VERSION", "BALANCES"],
    ...channels.map((c) => [
      c.channelID,
      c.peer,
      ...(via ? [c.virtual?.path[1] ?? "-"] : []),
      c.virtual?.unlocked ? `${c.phase} (unlocked)` : c.phase,
      c.version ?? "-",
      balancesText(c),
    ]),
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
