/**
 * `perun open | open-virtual | pay | channels | close | dispute`: thin clients of a running node's
 * local API (src/node/api.ts). Amounts on the command line are in ether units (18 decimals, e.g.
 * 1.5), parsed exactly with viem's parseEther; the API itself speaks wei. Arguments are checked here
 * (UsageError, exit 2); what the node refuses comes back as ApiError (exit 1).
 *
 * `open-virtual` pays the intermediary a fee: given with --fee, or quoted from the terms she
 * publishes in GET /v1/info (--via-api): rentalFee(terms, deposit + peer deposit, seconds). Over
 * several intermediaries --via, --peer-ledger and --fee (or --via-api) are comma-separated lists in
 * path order. With --auto the path is found instead: the nodes of --directory publish their terms
 * and ledger channels, and `findPath` picks the cheapest path with the capacity (src/node/path-discovery.ts).
 *
 * Every request carries the node's API secret, found without the user's help when the command runs as
 * the node's user (src/node/api-secret.ts): --api-secret-file, else $PERUN_API_SECRET_FILE, else the
 * pointer file the node left for the --api URL. The other nodes a command asks (--via-api, --directory)
 * are found through their pointer files the same way.
 */
import { formatEther, getAddress, isAddress, parseEther } from "viem";
import { rentalFee } from "../channel/fees.js";
import type { Address, Hex } from "../channel/types.js";
import { PerunError } from "../errors.js";
import { type ApiChannel, ApiClient, listening } from "../node/api-client.js";
import { discoverApiSecret } from "../node/api-secret.js";
import {
  DirectoryError,
  type DirectoryNode,
  type DiscoveryRequest,
  discoverPath,
  fetchDirectoryNode,
  parseTerms,
} from "../node/path-discovery.js";
import { type AppArgs, appCommand } from "./app-commands.js";
import { UsageError } from "./usage-error.js";

export interface ApiArgs {
  api?: string;
  "api-secret-file"?: string;
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
  "challenge-duration"?: string;
  auto?: boolean;
  directory?: string;
  app?: string;
  first?: string;
}

/** Longest challenge duration the CLI asks for: a year (a longer one locks funds for longer in a dispute). */
const MAX_CHALLENGE_SECONDS = 365 * 86_400;

/** Longest validity of a virtual channel the CLI asks for (2^32 s, as the API). */
const MAX_SECONDS = 2 ** 32;

export const DEFAULT_API = "http://127.0.0.1:5001";

/** Where a command prints its result (stdout; a buffer in tests). */
export interface Output {
  write(text: string): unknown;
}

/**
 * Runs one API client command against the node at --api. `out` gets the result (an id, a table),
 * `note` what the user should see besides it without breaking `ID=$(perun ...)` (the path that
 * `open-virtual --auto` chose).
 */
export async function apiCommand(
  command: string,
  args: ApiArgs,
  out: Output = process.stdout,
  note: Output = process.stderr,
): Promise<void> {
  const url = apiUrl(args.api);
  if (args["api-secret-file"] === "") throw new UsageError("--api-secret-file needs a path.");
  const api = ApiClient.discover(url, {
    ...(args["api-secret-file"] === undefined ? {} : { secretFile: args["api-secret-file"] }),
  });
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
        ...(args["challenge-duration"] === undefined
          ? {}
          : {
              challengeDuration: positiveInt(
                args["challenge-duration"],
                "--challenge-duration",
                MAX_CHALLENGE_SECONDS,
              ),
            }),
      });
      out.write(`${channelID}\n`);
      return;
    }
    case "open-virtual":
      return openVirtual(api, args, out, note);
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
      const c = await api.channel(id);
      out.write(
        c.virtual
          ? `closed virtual channel ${id}; our funds are unlocked into our ledger channel with ${neighbour(c)}\n`
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

/** `perun app open | move | show` (./app-commands.ts), against the node at --api. */
export async function appApiCommand(
  sub: string,
  name: string | undefined,
  args: ApiArgs & AppArgs,
  out: Output = process.stdout,
): Promise<void> {
  if (args["api-secret-file"] === "") throw new UsageError("--api-secret-file needs a path.");
  const api = ApiClient.discover(apiUrl(args.api), {
    ...(args["api-secret-file"] === undefined ? {} : { secretFile: args["api-secret-file"] }),
  });
  await appCommand(api, sub, name, args, out);
}

/**
 * `perun open-virtual`: the path given (--via, --ledger, --peer-ledger and --fee or --via-api, lists
 * comma-separated in path order) or found (--auto --directory), then POST /v1/virtual. One
 * intermediary goes out in the one-value form the API has always taken.
 */
async function openVirtual(api: ApiClient, args: ApiArgs, out: Output, note: Output): Promise<void> {
  const command = "open-virtual";
  const peer = address(need(args.peer, "--peer", command), "--peer");
  const deposit = ether(need(args.deposit, "--deposit", command), "--deposit");
  const peerDeposit = ether(args["peer-deposit"] ?? "0", "--peer-deposit");
  if (deposit === 0n && peerDeposit === 0n)
    throw new UsageError("--deposit or --peer-deposit must be positive.");
  const seconds = positiveInt(need(args.seconds, "--seconds", command), "--seconds", MAX_SECONDS);
  const path = args.auto
    ? await autoPath(api, args, peer, { deposit, peerDeposit, seconds: BigInt(seconds) }, note)
    : await givenPath(args, peer, deposit + peerDeposit, seconds);
  const one = path.via.length === 1;
  if (args.first !== undefined && args.app === undefined) throw new UsageError("--first goes with --app.");
  if (args.first !== undefined && args.first !== "0" && args.first !== "1") {
    throw new UsageError(`--first must be 0 (we move first) or 1 (the peer does), got "${args.first}".`);
  }
  const { channelID } = await api.openVirtual({
    ...(args.app === undefined ? {} : { app: args.app }),
    ...(args.first === undefined ? {} : { appOptions: { first: Number(args.first) } }),
    peer,
    via: one ? (path.via[0] as Address) : path.via,
    ledger: path.ledger,
    peerLedger: one ? (path.peerLedger[0] as Hex) : path.peerLedger,
    deposit,
    peerDeposit,
    fee: one ? (path.fees[0] as bigint) : path.fees,
    seconds,
  });
  out.write(`${channelID}\n`);
}

/** The intermediaries, ledger channels and fees of a virtual channel, in path order. */
interface ChosenPath {
  readonly via: Address[];
  readonly ledger: Hex;
  readonly peerLedger: Hex[];
  readonly fees: bigint[];
}

/** The path as given on the command line; fees from --fee or quoted from each --via-api. */
async function givenPath(
  args: ApiArgs,
  peer: Address,
  collateral: bigint,
  seconds: number,
): Promise<ChosenPath> {
  const command = "open-virtual";
  if (args.directory !== undefined) throw new UsageError("--directory goes with --auto.");
  const via = list(need(args.via, "--via", command), "--via").map((s) => address(s, "--via"));
  const n = via.length;
  const seen = new Set<string>();
  for (const a of via) {
    if (a === peer) {
      throw new UsageError(
        n === 1 ? "--via must be the intermediary, not the peer." : "--via must not list the peer.",
      );
    }
    if (seen.has(a)) throw new UsageError(`--via lists ${a} twice; a path visits each node once.`);
    seen.add(a);
  }
  const ledger = channel(need(args.ledger, "--ledger", command), "--ledger");
  const peerLedger = list(need(args["peer-ledger"], "--peer-ledger", command), "--peer-ledger").map((s) =>
    channel(s, "--peer-ledger"),
  );
  if (peerLedger.length !== n) {
    throw new UsageError(
      `--peer-ledger must list ${n} channel id(s), one per intermediary in --via (the ledger channels after ours, in path order), got ${peerLedger.length}.`,
    );
  }
  const ids = new Set<string>([ledger.toLowerCase()]);
  for (const id of peerLedger) {
    if (ids.has(id.toLowerCase())) {
      throw new UsageError(
        n === 1
          ? "--peer-ledger must be the intermediary's channel with the peer, not --ledger."
          : `--peer-ledger lists ${id} twice or with --ledger; each hop has its own ledger channel.`,
      );
    }
    ids.add(id.toLowerCase());
  }
  if ((args.fee === undefined) === (args["via-api"] === undefined)) {
    throw new UsageError(
      "perun open-virtual needs either --fee <eth> or --via-api <url> (to quote the fee from the intermediary's terms), or --auto.",
    );
  }
  let fees: bigint[];
  if (args.fee !== undefined) {
    fees = list(args.fee, "--fee").map((s) => ether(s, "--fee"));
    if (fees.length !== n)
      throw new UsageError(`--fee must list ${n} fee(s), one per intermediary in --via, got ${fees.length}.`);
  } else {
    const urls = list(args["via-api"] as string, "--via-api").map((s) => httpUrl(s, "--via-api"));
    if (urls.length !== n) {
      throw new UsageError(
        `--via-api must list ${n} URL(s), one per intermediary in --via, got ${urls.length}.`,
      );
    }
    fees = await Promise.all(urls.map((u, k) => quote(u, via[k] as Address, collateral, seconds)));
  }
  return { via, ledger, peerLedger, fees };
}

/**
 * The cheapest path with the capacity for V among the nodes of --directory and ours (see
 * src/node/path-discovery.ts); printed to `note`, with the channels left out of the graph.
 */
async function autoPath(
  api: ApiClient,
  args: ApiArgs,
  peer: Address,
  req: DiscoveryRequest,
  note: Output,
): Promise<ChosenPath> {
  for (const flag of ["via", "ledger", "peer-ledger", "fee", "via-api"] as const) {
    if (args[flag] !== undefined) throw new UsageError(`--auto finds the path itself; drop --${flag}.`);
  }
  const urls = list(need(args.directory, "--directory", "open-virtual --auto"), "--directory").map((s) =>
    httpUrl(s, "--directory"),
  );
  // Every directory node's secret first, so that a missing one fails before any request goes out.
  const secrets = await Promise.all(urls.map((u) => directorySecret(u)));
  const [self, ...others] = await Promise.all([
    fetchDirectoryNode(api.url, { headers: api.authHeaders() }),
    ...urls.map((u, k) => fetchDirectoryNode(u, { headers: bearerHeader(secrets[k] as string) })),
  ]);
  const found = discoverPath(self as DirectoryNode, others, peer, req);
  for (const w of found.warnings) note.write(`warning: ${w}\n`);
  const fees = found.via.map((a, k) => `${a} ${formatEther(found.fees[k] as bigint)}`).join(", ");
  note.write(`path: ${found.path.join(" -> ")}\nfees (ETH): ${fees}; total ${formatEther(found.totalFee)}\n`);
  return found;
}

/** A comma-separated list of at least one entry, e.g. --via 0xA,0xB. */
function list(s: string, flag: string): string[] {
  const parts = s.split(",").map((p) => p.trim());
  if (parts.some((p) => p === ""))
    throw new UsageError(`${flag} must be a comma-separated list without empty entries, got "${s}".`);
  return parts;
}

export function apiUrl(s: string | undefined): string {
  const url = s ?? DEFAULT_API;
  if (!/^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}\/?$/.test(url)) {
    throw new UsageError(`--api must be the node's local API URL, http://127.0.0.1:<port>, got "${url}".`);
  }
  return url;
}

export function need(v: string | undefined, flag: string, command: string): string {
  if (v === undefined) throw new UsageError(`perun ${command} needs ${flag}.`);
  return v;
}

export function address(s: string, flag: string): Address {
  if (!isAddress(s, { strict: true }))
    throw new UsageError(`${flag} must be an address (0x + 40 hex digits), got "${s}".`);
  return getAddress(s);
}

export function channel(s: string | undefined, flag = "--channel"): Hex {
  if (s === undefined) throw new UsageError(`This command needs ${flag} <id>.`);
  if (!/^0x[0-9a-fA-F]{64}$/.test(s))
    throw new UsageError(`${flag} must be a channel id (0x + 64 hex digits), got "${s}".`);
  return s as Hex;
}

export function positiveInt(s: string, flag: string, max: number): number {
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

/** The fee intermediary `via`'s published terms ask for renting `collateral` for `seconds`. */
async function quote(url: string, via: Address, collateral: bigint, seconds: number): Promise<bigint> {
  const info = await new ApiClient(url, { secret: otherNodeSecret(url) }).info();
  if (typeof info?.address !== "string" || info.address.toLowerCase() !== via.toLowerCase()) {
    throw new UsageError(`--via-api ${url} is the API of ${info?.address}, not of --via ${via}.`);
  }
  const terms = parseTerms(url, info.intermediary);
  if (terms === null) {
    throw new PerunError(
      "NOT_AN_INTERMEDIARY",
      `${via} publishes no intermediary terms (GET ${url}/v1/info).`,
      {
        hint: 'Choose another intermediary, or ask its operator to set "intermediary" in the node\'s config.',
      },
    );
  }
  return rentalFee(terms, collateral, BigInt(seconds));
}

/** The API secret of another node the command asks (--via-api, --directory): through its pointer file. */
function otherNodeSecret(url: string): string {
  return discoverApiSecret(url, { onlyPointer: true }).secret;
}

/** otherNodeSecret, but a directory node that is not even listening is DIRECTORY_UNREACHABLE. */
async function directorySecret(url: string): Promise<string> {
  try {
    return otherNodeSecret(url);
  } catch (err) {
    if (!(await listening(url))) {
      throw new DirectoryError(
        "DIRECTORY_UNREACHABLE",
        url.replace(/\/+$/, ""),
        `Cannot reach the node API at ${url.replace(/\/+$/, "")}.`,
        "Check the --directory URLs: each must be a running node's API, http://host:port.",
        err,
      );
    }
    throw err;
  }
}

function bearerHeader(secret: string): Record<string, string> {
  return { authorization: `Bearer ${secret}` };
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

export function balancesText(c: Pick<ApiChannel, "balances" | "assets" | "idx">): string {
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

/** Our neighbour on a virtual channel's path: the first intermediary for V.alice, the last for V.bob. */
function neighbour(c: Pick<ApiChannel, "idx" | "virtual">): string {
  const path = c.virtual?.path ?? [];
  return path[c.idx === 0 ? 1 : path.length - 2] ?? "-";
}

/**
 * The channel list; a VIA column once any channel is virtual: its intermediaries in path order
 * (comma-separated), "-" for ledger channels.
 */
function table(channels: ApiChannel[]): string {
  if (channels.length === 0) return "no channels\n";
  const via = channels.some((c) => c.virtual !== undefined);
  const rows = [
    ["CHANNEL", "PEER", ...(via ? ["VIA"] : []), "PHASE", "VERSION", "BALANCES"],
    ...channels.map((c) => [
      c.channelID,
      c.peer,
      ...(via ? [c.virtual ? c.virtual.path.slice(1, -1).join(",") || "-" : "-"] : []),
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
