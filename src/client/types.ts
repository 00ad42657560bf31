/**
 * The client's vocabulary: what callers hand in (deps, options, requests), what they get back
 * (channel info, events) and the records its roles share (a virtual channel's path, a held lock, a
 * fully signed sub-channel state). Types only: nothing here runs.
 */
import type { ChainPort } from "../chain/chain-port.js";
import type { AppDefinition } from "../channel/app.js";
import type { RentalTerms } from "../channel/fees.js";
import type { Machine } from "../channel/machine.js";
import type { SigningPolicy } from "../channel/policy.js";
import type { Signer } from "../channel/signer.js";
import type { Address, Asset, Hex, Params, State } from "../channel/types.js";
import type { Store } from "../store/store.js";
import type { Transport } from "../wire/transport.js";

export type Decision = { readonly accept: true } | { readonly accept: false; readonly reason: string };

export interface IncomingProposal {
  readonly from: Address;
  readonly params: Params;
  readonly initial: State;
  readonly fundingTimeout: bigint;
}

export interface IncomingUpdate {
  readonly channelID: Hex;
  readonly from: Address;
  readonly current: State;
  readonly next: State;
  /** What we gain (positive) or lose (negative) per asset. */
  readonly delta: readonly bigint[];
  /** The channel runs an app, and the update is a move its rules allow the peer (checked already). */
  readonly appMove?: boolean;
}

export type ProposalHandler = (p: IncomingProposal) => Decision | Promise<Decision>;
export type UpdateHandler = (u: IncomingUpdate) => Decision | Promise<Decision>;

export type ClientEvent =
  | { readonly type: "proposed"; readonly channelID: Hex; readonly peer: Address }
  | { readonly type: "opened"; readonly channelID: Hex }
  | { readonly type: "funded"; readonly channelID: Hex }
  | {
      readonly type: "updated";
      readonly channelID: Hex;
      readonly version: bigint;
      readonly balances: bigint[][];
    }
  | { readonly type: "disputed"; readonly channelID: Hex; readonly version: bigint; readonly timeout: bigint }
  | { readonly type: "refuted"; readonly channelID: Hex; readonly stale: bigint; readonly ours: bigint }
  /** An app channel in dispute was moved on chain (by either player) to `version`; the next move is due by `timeout`. */
  | {
      readonly type: "progressed";
      readonly channelID: Hex;
      readonly version: bigint;
      readonly timeout: bigint;
    }
  | { readonly type: "concluded"; readonly channelID: Hex; readonly version: bigint }
  | { readonly type: "withdrawn"; readonly channelID: Hex; readonly amounts: bigint[] }
  | { readonly type: "fundingTimeout"; readonly channelID: Hex }
  /** A channel that never became binding was forgotten (its proposal or its locks were refused). */
  | { readonly type: "abandoned"; readonly channelID: Hex; readonly reason: string }
  | { readonly type: "rejected"; readonly peer: Address; readonly reason: string };

export type LogLevel = "debug" | "info" | "warn" | "error";
export type Logger = (level: LogLevel, message: string, details?: Record<string, unknown>) => void;

export interface ClientOptions {
  /** How long to wait for a peer's answer to a proposal or update (ms). */
  readonly peerTimeoutMs?: number;
  /** Polling interval for chain reads while funding or settling (ms). */
  readonly pollMs?: number;
  /** A responder concludes a final state itself if the proposer has not after this long (ms). */
  readonly concludeFinalGraceMs?: number;
  /**
   * Offer virtual channels through our ledger channels as an intermediary, at these terms (a fee for
   * renting the line: collateral x time). Without it we never lock funds for others.
   */
  readonly intermediary?: {
    readonly terms: RentalTerms;
  };
  /**
   * Unlock a virtual channel into our ledger channel as soon as we signed its final state (default).
   * Off: the funds stay locked until `settleVirtual` is called (e.g. to batch ledger updates).
   */
  readonly unlockOnFinal?: boolean;
  /**
   * As intermediary: how long (chain seconds) after a virtual channel's expiry we wait for its ends to
   * close it before we close it ourselves (default 600).
   */
  readonly virtualExpiryGraceSeconds?: bigint;
  /**
   * When both members of a channel would send the same transaction (register a ledger channel because
   * a virtual channel it locks went on chain, conclude after the timeout), participant 1 waits this
   * long (ms) for participant 0's and sends its own only if it is still needed. Default max(1 s, 5 polls).
   */
  readonly chainBackoffMs?: number;
}

export interface OpenVirtualRequest {
  readonly peer: Address;
  /**
   * The intermediaries in path order from us to the peer (a single address: one intermediary). We
   * have the ledger channel `ledger` with the first; each has one with the next; the last with `peer`.
   */
  readonly via: Address | readonly Address[];
  readonly ledger: Hex;
  /** The ledger channels after ours, in path order (I1-I2, ..., In-peer); a single id for one intermediary. */
  readonly peerLedger: Hex | readonly Hex[];
  /** [ours, the peer's] per asset of `ledger`. */
  readonly balances: readonly (readonly [bigint, bigint])[];
  /**
   * Each intermediary's fee per asset (see her terms), in path order, paid by us when V opens; a flat
   * list for one intermediary.
   */
  readonly fee: readonly bigint[] | readonly (readonly bigint[])[];
  /** Seconds of validity: after them the intermediaries may close V. */
  readonly seconds: bigint;
  readonly challengeDuration?: bigint;
  /** An app V runs (a virtual state channel; both ends must play it) and its first state. */
  readonly app?: Address;
  readonly appData?: Hex;
}

/** A peer's lock proposal held while V's path is being locked. */
export interface HeldLock {
  readonly ledgerID: Hex;
  readonly state: State;
  readonly sig: Hex;
  readonly from: number;
}

/** What every member of V's path keeps: the path, the ledger channel of every hop, fees and expiry. */
export interface VirtualInfo {
  readonly path: Address[];
  readonly ledgerIDs: Hex[];
  readonly fees: bigint[][];
  readonly expiry: bigint;
  /** Our own ledger channel that locks V (ends only). */
  readonly ledger: Hex;
}

export interface ClientDeps {
  readonly signer: Signer;
  /**
   * What we may sign, fund, store or relay (src/channel/policy.ts): every proposal, lock and relayed
   * message goes through it before anything else (a proposal handler can only refuse more); updates go
   * through its `updates` rule unless `onUpdate` installs another decision.
   */
  readonly policy: SigningPolicy;
  readonly transport: Transport;
  readonly store: Store;
  readonly chain: ChainPort;
  readonly log?: Logger;
  readonly options?: ClientOptions;
  /**
   * The apps we play, by contract address (lowercase): a channel whose params name one runs its
   * rules; payment channels need none. The signing policy must list the same addresses.
   */
  readonly apps?: ReadonlyMap<string, AppDefinition>;
}

export interface OpenChannelRequest {
  readonly peer: Address;
  /** Assets of the channel; defaults to ETH at the given holder. */
  readonly assets: readonly Asset[];
  /** Our deposit and the peer's, per asset: [asset][0 = us, 1 = peer]. */
  readonly balances: readonly (readonly [bigint, bigint])[];
  readonly challengeDuration?: bigint;
  /** Seconds of chain time both have to deposit. */
  readonly fundingTimeout?: bigint;
  readonly app?: Address;
  readonly appData?: Hex;
}

export interface ChannelInfo {
  readonly channelID: Hex;
  readonly peer: Address;
  readonly idx: number;
  readonly phase: Machine["phase"];
  readonly version: bigint | null;
  readonly balances: bigint[][] | null;
  readonly assets: readonly Asset[];
  /** Set for virtual channels: funded by locks in ledger channels, settled by unlocking them. */
  readonly virtual?: { readonly path: readonly Address[]; readonly unlocked: boolean };
  /** Set for app channels: the app's name and its state in people's terms (null before the first state). */
  readonly app?: { readonly name: string; readonly address: Address; readonly state: unknown };
}

/** A fully signed state with its params: what `register` takes for a (sub-)channel. */
export interface SignedSub {
  readonly params: Params;
  readonly state: State;
  readonly sigs: readonly Hex[];
}
