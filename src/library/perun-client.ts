/**
 * The library client (README "Use it as a library"): one call wires what `perun node` wires from its
 * config file (src/node/node.ts), for a program that embeds perun-ts, a wallet or a hub: our key, a
 * store (SQLite, Postgres for a hub, or memory for tests), a WebSocket transport (listening,
 * dialling the given peers), the chain port with the Perun contracts of `chain`, the signing policy
 * (required by the client; defaults from the chain), the client itself and the watcher that feeds it
 * chain events and ticks.
 *
 * What it returns is a small object of plain async functions over the client (src/client/client.ts):
 * open, pay, open a virtual channel (by hand or along a path found from what nodes publish,
 * src/channel/pathfinding.ts), settle, dispute, events, close. Every argument is checked before
 * anything is signed or sent; every failure is a `PerunError` with `code`, `message` and `hint`.
 */
import { EthChain } from "../chain/chain-port.js";
import type { AppDefinition } from "../channel/app.js";
import type { Address, Asset, Hex } from "../channel/types.js";
import { type ChannelInfo, Client, type ClientEvent } from "../client/client.js";
import { InvalidArgumentError, PerunError } from "../errors.js";
import { appsByAddress, KNOWN_APPS } from "../node/apps.js";
import { type DirectoryNode, discoverPath } from "../node/path-discovery.js";
import {
  addressOption,
  amountOption,
  channelIdOption,
  integerOption,
  onlyFields,
  optionsObject,
  wsUrlOption,
} from "../options.js";
import { closeStore, openStore } from "../store/open-store.js";
import { Watcher } from "../watcher/watcher.js";
import { createWsTransport, type WsTransport } from "../wire/index.js";
import { type PerunClientOptions, resolveClientOptions } from "./client-options.js";

/** A ledger channel to open: our deposit and the peer's, in one asset of the chain. */
export interface OpenChannelOptions {
  readonly peer: string;
  /** Our deposit, wei. */
  readonly deposit: bigint;
  /** The peer's deposit, wei (default 0); the peer's policy must allow it (its `maxDeposit`). */
  readonly peerDeposit?: bigint;
  /** Asset symbol of the chain's contracts (default "ETH"). */
  readonly asset?: string;
  /** Seconds a registered state can be refuted (default: 60 within the policy's bounds). */
  readonly challengeDuration?: bigint | number;
  /** Seconds both have to deposit (default: 600 within the policy's bounds). */
  readonly fundingTimeout?: bigint | number;
  /** An app of the chain's contracts (`chain.contracts.apps`, e.g. "tictactoe") the channel runs. */
  readonly app?: string;
  /** The app's options for a new game (tic-tac-toe: `{ first: 0 | 1 }`, default 0: we move first). */
  readonly appOptions?: unknown;
}

/** The path of a virtual channel given by hand: the intermediaries and the ledger channels between. */
export interface VirtualRoute {
  /** The intermediaries in path order from us to the peer (one address: one intermediary). */
  readonly via: string | readonly string[];
  /** Our ledger channel with the first intermediary. */
  readonly ledger: Hex;
  /** The ledger channels after ours, in path order (..., last intermediary-peer). */
  readonly peerLedger: Hex | readonly Hex[];
  /** Each intermediary's fee in wei, in path order, paid by us when V opens (see `rentalFee`). */
  readonly fee: bigint | readonly bigint[];
}

/** A path to find: from the directory entries of the nodes that may be on it (`directoryEntry()`). */
export interface VirtualDirectory {
  readonly directory: readonly DirectoryNode[];
}

/** A virtual channel to open: V's balances and validity, and its path by hand or to find. */
export type OpenVirtualOptions = {
  readonly peer: string;
  /** Our share of V, wei, locked in our ledger channel. */
  readonly deposit: bigint;
  /** The peer's share of V, wei (default 0). */
  readonly peerDeposit?: bigint;
  /** V's validity in seconds: the intermediaries rent out their collateral for that long. */
  readonly seconds: bigint | number;
  readonly challengeDuration?: bigint | number;
} & (VirtualRoute | VirtualDirectory);

/** A Perun client: our channels on one chain, with peers over WebSocket. */
export interface PerunClient {
  /** Our address (the signer's). */
  readonly address: Address;
  readonly chainId: number;
  /** ws://host:port where peers reach us (with `listen`), else undefined. */
  readonly url: string | undefined;
  /** Where to dial `address` (as in the `peers` option). */
  addPeer(address: string, url: string): void;
  /**
   * Opens a ledger channel with `peer`; resolves with its id once both deposits are on chain.
   *
   * @example
   * const id = await alice.openChannel({ peer: bob.address, deposit: parseEther("1") });
   */
  openChannel(options: OpenChannelOptions): Promise<Hex>;
  /**
   * Pays `amount` wei to the peer of a ledger or virtual channel, off chain; resolves once the peer
   * signed, with the new state's version and balances ([asset][participant]; `channel(id).idx` is ours).
   *
   * @example
   * const { version, balances } = await alice.pay(id, parseEther("0.1"));
   */
  pay(channelID: Hex, amount: bigint): Promise<{ readonly version: bigint; readonly balances: bigint[][] }>;
  /**
   * Our move in an app channel (`move` as the app takes it; tic-tac-toe `{ cell: 0..8 }`), off chain
   * once the peer signed it, or on chain (`progress`) in a dispute; resolves with the channel, whose
   * `app.state` shows the game.
   *
   * @example
   * const id = await alice.openChannel({ peer: bob.address, deposit: parseEther("1"), peerDeposit: parseEther("1"), app: "tictactoe" });
   * await alice.move(id, { cell: 4 });
   */
  move(channelID: Hex, move: unknown): Promise<ChannelInfo>;
  /**
   * Opens a virtual channel V with `peer` through intermediaries, with no transaction; resolves with
   * V's id once our side is locked. The path is given by hand or found in a directory.
   *
   * @example
   * const v = await alice.openVirtualChannel({
   *   peer: bob.address, deposit: parseEther("1"), seconds: 3600,
   *   directory: [alice.directoryEntry(), ingrid.directoryEntry(), bob.directoryEntry()],
   * });
   */
  openVirtualChannel(options: OpenVirtualOptions): Promise<Hex>;
  /**
   * Closes a channel and gets our funds back. A ledger channel: cooperatively (final state,
   * `concludeFinal`, withdraw) or, with `force` or a silent peer, by dispute; resolves once our funds
   * are withdrawn (if the peer closed it already, once we withdrew). A virtual channel: its final
   * balances go back into the ledger channels, with no transaction.
   *
   * @example
   * await alice.settle(id);
   */
  settle(channelID: Hex, options?: { readonly force?: boolean }): Promise<void>;
  /**
   * Registers our latest state on chain (a ledger channel); the client finishes the dispute by itself
   * (refutes older states, concludes after the challenge duration, withdraws).
   *
   * @example
   * await alice.dispute(id);
   */
  dispute(channelID: Hex): Promise<void>;
  /** Our channels with phase, version and balances. */
  channels(): ChannelInfo[];
  /** One channel; a `PerunError` with code UNKNOWN_CHANNEL if we have none with that id. */
  channel(channelID: Hex): ChannelInfo;
  /**
   * Calls `handler` with every client event (opened, funded, updated, disputed, concluded, withdrawn,
   * ...); returns the function that unsubscribes it.
   *
   * @example
   * const stop = alice.onEvent((e) => console.log(e.type, e));
   */
  onEvent(handler: (event: ClientEvent) => void): () => void;
  /**
   * What we publish for path finding: our open one-asset ledger channels with each side's free
   * balance, and our rental terms if we relay virtual channels (a node's GET /v1/info and /v1/graph).
   */
  directoryEntry(): DirectoryNode;
  /**
   * Stops watcher, client, transport and store, in that order; idempotent. Operations after it fail
   * with CLIENT_CLOSED; a new client on the same store resumes every channel.
   */
  close(): Promise<void>;
}

/**
 * Creates a Perun client: our key, a chain, a store, and peers over WebSocket. Channels in the store
 * are resumed (funding, disputes and half-done steps go on by themselves).
 *
 * @example
 * const chain = await createEmbeddedChain();
 * const bob = await createPerunClient({
 *   signer: chain.accounts[2], chain, store: "memory", listen: { port: 0 }, acceptProposals: true,
 * });
 * const alice = await createPerunClient({ signer: chain.accounts[1], chain, store: "memory", peers: [bob] });
 */
export async function createPerunClient(options: PerunClientOptions): Promise<PerunClient> {
  const o = await resolveClientOptions(options);
  const { chain, signer, log } = o;
  // Everything opened so far, closed in reverse if a later step fails.
  const cleanup: (() => Promise<void> | void)[] = [];
  const unwind = async () => {
    for (const f of cleanup.reverse()) await Promise.resolve(f()).catch(() => undefined);
  };
  try {
    const { store } = await openStore(o.store);
    // Awaits the last commit (Postgres): close() resolves only once everything written is in the database.
    cleanup.push(() => closeStore(store));
    const transport: WsTransport = await createWsTransport({
      signer,
      ...(o.listen === undefined ? {} : { listen: o.listen }),
      log: (level, msg, details) => log(level, msg, { component: "wire", ...details }),
    });
    cleanup.push(() => transport.close());
    for (const [peer, url] of o.peers) transport.addPeer(peer, url);

    const ethChain = new EthChain(chain.connection, chain.contracts.adjudicator, o.privateKey);
    const playable = Object.fromEntries(
      Object.entries(chain.contracts.apps ?? {}).filter(([name]) => Object.hasOwn(KNOWN_APPS, name)),
    );
    const client = new Client({
      apps: appsByAddress(playable),
      policy: o.policy,
      signer,
      transport,
      store,
      chain: ethChain,
      log: (level, msg, details) => log(level, msg, { component: "client", ...details }),
      options: {
        pollMs: o.pollMs,
        peerTimeoutMs: o.peerTimeoutMs,
        ...(o.intermediary === undefined ? {} : { intermediary: { terms: o.intermediary } }),
      },
    });
    cleanup.push(() => client.close());
    client.onProposal(async (p) => {
      const ourIdx = p.params.participants.findIndex(
        (x) => x.ethAddress.toLowerCase() === signer.address.toLowerCase(),
      );
      const accept = await o.accept({
        from: p.from,
        channelID: p.initial.channelID,
        virtual: p.params.virtualChannel,
        balances: p.initial.outcome.balances,
        ourIdx,
        challengeDuration: p.params.challengeDuration,
        params: p.params,
        initial: p.initial,
      });
      return accept ? { accept: true } : { accept: false, reason: "not accepted by the client" };
    });
    const handlers = new Set<(e: ClientEvent) => void>();
    client.onEvent((e) => {
      for (const h of handlers) {
        try {
          h(e);
        } catch (err) {
          log("warn", "an event handler threw", { event: e.type, error: String(err) });
        }
      }
    });
    await client.start();
    const watcher = new Watcher(ethChain, store, client, {
      pollMs: o.pollMs,
      log: (level, msg, details) => log(level, msg, { component: "watcher", ...details }),
    });
    await watcher.start();
    cleanup.push(() => watcher.stop());

    const assets = chain.contracts.assets;
    const asset = (symbol: string): Asset => ({
      chainID: BigInt(chain.chainId),
      ethHolder: assets[symbol] as Address,
      ccHolder: "0x",
    });
    const known = (id: Hex): ChannelInfo => client.channel(id);
    const notSelf = (peer: Address, what: string): Address => {
      if (peer.toLowerCase() === signer.address.toLowerCase()) {
        throw new InvalidArgumentError(what, "another party's address (not our own)", peer);
      }
      return peer;
    };
    const directoryEntry = (): DirectoryNode => ({
      url: transport.url ?? `perun-ts:${signer.address}`,
      address: signer.address,
      chainId: chain.chainId,
      adjudicator: chain.contracts.adjudicator,
      assets,
      terms: o.intermediary ?? null,
      ledgers: client.channels().flatMap((c) => {
        const row = c.balances?.[0];
        const a = c.assets[0];
        if (c.virtual || c.phase !== "Acting" || c.assets.length !== 1 || !row || !a) return [];
        return [
          {
            channelID: c.channelID,
            peer: c.peer,
            holder: a.ethHolder,
            capacity: [row[c.idx] ?? 0n, row[1 - c.idx] ?? 0n] as const,
          },
        ];
      }),
    });

    let closing: Promise<void> | undefined;
    /** After close(), every operation fails at once instead of waiting on a stopped transport or chain. */
    const live = (): void => {
      if (closing) {
        throw new PerunError("CLIENT_CLOSED", "The client was closed.", {
          hint: "Create a new client with the same store to go on: it resumes every channel.",
        });
      }
    };
    const self: PerunClient = {
      address: signer.address,
      chainId: chain.chainId,
      url: transport.url,
      addPeer(address, url) {
        live();
        transport.addPeer(addressOption(address, "addPeer address"), wsUrlOption(url, "addPeer url"));
      },
      async openChannel(options) {
        live();
        const what = "openChannel option";
        const r = optionsObject(options, "openChannel options");
        onlyFields(
          r,
          [
            "peer",
            "deposit",
            "peerDeposit",
            "asset",
            "challengeDuration",
            "fundingTimeout",
            "app",
            "appOptions",
          ],
          "openChannel options",
        );
        const peer = notSelf(addressOption(r.peer, `${what} peer`), `${what} peer`);
        const { deposit, peerDeposit } = depositsOption(r, what);
        const symbol = r.asset ?? (assets.ETH !== undefined ? "ETH" : Object.keys(assets)[0]);
        if (typeof symbol !== "string" || !Object.hasOwn(assets, symbol)) {
          throw new InvalidArgumentError(`${what} asset`, `one of ${Object.keys(assets).join(", ")}`, symbol);
        }
        return client.openChannel({
          peer,
          ...appOption(r, chain.contracts.apps ?? {}),
          assets: [asset(symbol)],
          balances: [[deposit, peerDeposit]],
          ...seconds(r, "challengeDuration", what),
          ...seconds(r, "fundingTimeout", what),
        });
      },
      async pay(channelID, amount) {
        live();
        const id = channelIdOption(channelID, "pay channelID");
        const value = amountOption(amount, "pay amount", true);
        const state = await client.pay(id, value);
        return { version: state.version, balances: state.outcome.balances.map((row) => [...row]) };
      },
      async move(channelID, move) {
        live();
        const id = channelIdOption(channelID, "move channelID");
        await client.move(id, move);
        return client.channel(id);
      },
      async openVirtualChannel(options) {
        live();
        const what = "openVirtualChannel option";
        const r = optionsObject(options, "openVirtualChannel options");
        const common = ["peer", "deposit", "peerDeposit", "seconds", "challengeDuration"];
        const byHand = r.directory === undefined;
        onlyFields(
          r,
          [...common, ...(byHand ? ["via", "ledger", "peerLedger", "fee"] : ["directory"])],
          "openVirtualChannel options",
        );
        const peer = notSelf(addressOption(r.peer, `${what} peer`), `${what} peer`);
        const { deposit, peerDeposit } = depositsOption(r, what);
        const secs = integerOption(r.seconds, `${what} seconds`, 1n, 1n << 32n);
        const route = byHand
          ? routeOption(r)
          : pathFrom(directoryEntry(), r.directory, peer, { deposit, peerDeposit, seconds: secs });
        const ledger = known(route.ledger);
        if (ledger.virtual || ledger.peer.toLowerCase() !== route.via[0]?.toLowerCase()) {
          throw new InvalidArgumentError(
            `${what} ledger`,
            `the id of our ledger channel with the first intermediary (${route.via[0]})`,
            route.ledger,
          );
        }
        return client.openVirtualChannel({
          peer,
          via: route.via,
          ledger: route.ledger,
          peerLedger: route.peerLedger,
          balances: [[deposit, peerDeposit]],
          fee: route.fee.map((f) => [f]),
          seconds: secs,
          ...seconds(r, "challengeDuration", what),
        });
      },
      async settle(channelID, options = {}) {
        live();
        const id = channelIdOption(channelID, "settle channelID");
        const opts = optionsObject(options, "settle options");
        onlyFields(opts, ["force"], "settle options");
        if (opts.force !== undefined && typeof opts.force !== "boolean") {
          throw new InvalidArgumentError("settle option force", "a boolean", opts.force);
        }
        const c = known(id);
        if (c.virtual) {
          if (opts.force === true) throw virtualDispute(c);
          return client.settleVirtual(id);
        }
        return client.settle(id, { force: opts.force === true });
      },
      async dispute(channelID) {
        live();
        const id = channelIdOption(channelID, "dispute channelID");
        const c = known(id);
        if (c.virtual) throw virtualDispute(c);
        return client.dispute(id);
      },
      channels: () => client.channels(),
      channel: (channelID) => client.channel(channelIdOption(channelID, "channel channelID")),
      onEvent(handler) {
        if (typeof handler !== "function") {
          throw new InvalidArgumentError("onEvent handler", "a function (event) => void", handler);
        }
        const h = (e: ClientEvent) => handler(e);
        handlers.add(h);
        return () => {
          handlers.delete(h);
        };
      },
      directoryEntry,
      close() {
        closing ??= unwind();
        return closing;
      },
    };
    return self;
  } catch (err) {
    await unwind();
    throw err;
  }
}

/** The optional seconds field `name` of `r`, as a spread (absent stays absent). */
function seconds(r: Record<string, unknown>, name: string, what: string): Record<string, bigint> {
  return r[name] === undefined ? {} : { [name]: integerOption(r[name], `${what} ${name}`, 1n, 1n << 32n) };
}

interface Route {
  readonly via: Address[];
  readonly ledger: Hex;
  readonly peerLedger: Hex[];
  readonly fee: bigint[];
}

function routeOption(r: Record<string, unknown>): Route {
  const what = "openVirtualChannel option";
  const list = <T>(v: unknown, name: string, item: (x: unknown, w: string) => T): T[] => {
    const xs = Array.isArray(v) ? v : [v];
    return xs.map((x, i) => item(x, Array.isArray(v) ? `${what} ${name}[${i}]` : `${what} ${name}`));
  };
  const via = list(r.via, "via", addressOption);
  const peerLedger = list(r.peerLedger, "peerLedger", channelIdOption);
  const fee = list(r.fee, "fee", (x, w) => amountOption(x, w));
  if (via.length === 0 || peerLedger.length !== via.length || fee.length !== via.length) {
    throw new InvalidArgumentError(`${what}s via, peerLedger and fee`, "one entry each per intermediary", {
      via: via.length,
      peerLedger: peerLedger.length,
      fee: fee.length,
    });
  }
  return { via, ledger: channelIdOption(r.ledger, `${what} ledger`), peerLedger, fee };
}

function pathFrom(
  self: DirectoryNode,
  directory: unknown,
  peer: Address,
  req: { deposit: bigint; peerDeposit: bigint; seconds: bigint },
): Route {
  if (!Array.isArray(directory)) {
    throw new InvalidArgumentError(
      "openVirtualChannel option directory",
      "a list of directory entries (client.directoryEntry())",
      directory,
    );
  }
  const others = directory
    .map((n: unknown, i) => directoryNode(n, i))
    .filter((n) => n.address.toLowerCase() !== self.address.toLowerCase());
  const p = discoverPath(self, others, peer, req);
  return { via: p.via, ledger: p.ledger, peerLedger: p.peerLedger, fee: p.fees };
}

/** A directory entry's shape, checked before path finding reads it. */
function directoryNode(value: unknown, i: number): DirectoryNode {
  const what = `openVirtualChannel option directory[${i}]`;
  const n = optionsObject(value, what);
  addressOption(n.address, `${what}.address`);
  addressOption(n.adjudicator, `${what}.adjudicator`);
  if (typeof n.chainId !== "number") throw new InvalidArgumentError(`${what}.chainId`, "a number", n.chainId);
  optionsObject(n.assets, `${what}.assets`);
  if (!Array.isArray(n.ledgers)) throw new InvalidArgumentError(`${what}.ledgers`, "a list", n.ledgers);
  n.ledgers.forEach((l: unknown, j) => {
    const e = optionsObject(l, `${what}.ledgers[${j}]`);
    channelIdOption(e.channelID, `${what}.ledgers[${j}].channelID`);
    addressOption(e.peer, `${what}.ledgers[${j}].peer`);
    addressOption(e.holder, `${what}.ledgers[${j}].holder`);
    const cap = e.capacity;
    if (!Array.isArray(cap) || cap.length !== 2) {
      throw new InvalidArgumentError(`${what}.ledgers[${j}].capacity`, "[ours, the peer's] in wei", cap);
    }
    for (const [k, c] of cap.entries()) amountOption(c, `${what}.ledgers[${j}].capacity[${k}]`);
  });
  return n as unknown as DirectoryNode;
}

function virtualDispute(c: ChannelInfo): PerunError {
  return new PerunError(
    "VIRTUAL_DISPUTE",
    `Channel ${c.channelID} is virtual: it cannot be force-closed or disputed on its own.`,
    {
      details: { channelID: c.channelID, path: c.virtual?.path.join(" -> ") },
      hint: "Settle it cooperatively, or dispute the ledger channel that locks it (settle(ledger, { force: true })).",
    },
  );
}

/** Our deposit and the peer's (default 0) of an open request: amounts in wei, not both zero. */
function depositsOption(r: Record<string, unknown>, what: string): { deposit: bigint; peerDeposit: bigint } {
  const deposit = amountOption(r.deposit, `${what} deposit`);
  const peerDeposit = amountOption(r.peerDeposit ?? 0n, `${what} peerDeposit`);
  if (deposit + peerDeposit === 0n) {
    throw new InvalidArgumentError(`${what} deposit`, "positive, or peerDeposit positive", deposit);
  }
  return { deposit, peerDeposit };
}

/** `app` and `appOptions` of openChannel: an app of the chain that we play, and its first state. */
function appOption(
  r: Record<string, unknown>,
  apps: Readonly<Record<string, Address>>,
): { app?: Address; appData?: Hex } {
  if (r.app === undefined) {
    if (r.appOptions !== undefined) {
      throw new InvalidArgumentError("openChannel option appOptions", "absent without app", r.appOptions);
    }
    return {};
  }
  const playable = Object.keys(apps).filter((n) => Object.hasOwn(KNOWN_APPS, n));
  const name = r.app;
  if (typeof name !== "string" || !playable.includes(name)) {
    throw new InvalidArgumentError(
      "openChannel option app",
      playable.length === 0
        ? "absent: the chain's contracts list no app we play"
        : `one of ${playable.join(", ")}`,
      name,
    );
  }
  const def = KNOWN_APPS[name] as AppDefinition;
  try {
    return { app: apps[name] as Address, appData: def.initialData(r.appOptions) };
  } catch (e) {
    if (!(e instanceof PerunError)) throw e;
    throw new InvalidArgumentError(
      "openChannel option appOptions",
      e.message.split("\n")[0] ?? "",
      r.appOptions,
    );
  }
}
