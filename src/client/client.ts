/**
 * The client: runs ledger channels with peers (design.md sections 4 and 6).
 *
 * It is the imperative shell around the pure channel machine: every request,
 * peer message and chain event becomes one machine transition, whose effects
 * it runs in order: persist (before anything leaves the process), send,
 * publish, chain requests. It talks to the world only through the ports it is
 * given: Transport (peers), Store (disk), ChainPort (adjudicator + asset
 * holders), Signer (our key).
 *
 * Concurrency: transitions of one channel run one at a time (a per-channel
 * queue); waiting for a peer or the chain happens outside that queue, so a
 * peer's concurrent proposal is still handled (the machine's tie-break decides).
 */
import { randomBytes } from "node:crypto";
import { DisputePhase } from "../chain/adjudicator.js";
import type { ChainPort, ChannelUpdateEvent } from "../chain/chain-port.js";
import type { AppRules } from "../channel/app.js";
import type { RentalTerms } from "../channel/fees.js";
import { channelId, fundingId, hashState } from "../channel/hash.js";
import {
  acceptUpdate,
  type ChannelMsg,
  concludableAt,
  concluded,
  createMachine,
  type Effect,
  funded,
  type Machine,
  proposeFinal,
  proposeInit,
  proposeUpdate,
  receiveAcceptance,
  receiveRejection,
  receiveSync,
  receiveUpdate,
  register,
  registered,
  registrationStands,
  rejectUpdate,
  type Transition,
  withdrawn,
} from "../channel/machine.js";
import { hopLockArgs, lockPosition, type PathHop, pathLocks } from "../channel/path.js";
import { balanceDelta, payment } from "../channel/payment.js";
import {
  checkIntermediaryLock,
  checkLedgerChannel,
  checkPathSender,
  checkUpdate,
  checkVirtualChannel,
  enforce,
  type SigningPolicy,
  type Verdict,
} from "../channel/policy.js";
import { recoverStateSigner, signState, signWithdrawalAuth } from "../channel/sig.js";
import type { Signer } from "../channel/signer.js";
import type { Address, Asset, Hex, Params, State } from "../channel/types.js";
import { ZERO_ADDRESS } from "../channel/types.js";
import { validateParams, validateState } from "../channel/validation.js";
import {
  assertVirtualParams,
  assertVirtualState,
  checkLock,
  checkUnlock,
  diffLocked,
  intermediaryLocksMatch,
  lockInLedger,
  locksSubChannel,
  unlockFromLedger,
  virtualInitialState,
  virtualParams,
} from "../channel/virtual.js";
import { PerunError } from "../errors.js";
import { decodeJson, encodeJson } from "../store/json.js";
import type { ChannelRecord, Store } from "../store/store.js";
import type { Inbound, VirtualFinalMsg, VirtualFundingMsg, WireMsg } from "../wire/messages.js";
import type { Transport } from "../wire/transport.js";
import {
  ChannelBusyError,
  FundingTimeoutError,
  LockedFundsError,
  PeerTimeoutError,
  ProposalRejectedError,
  UnknownChannelError,
  UpdateRejectedError,
} from "./errors.js";

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
}

/** A peer's lock proposal held while V's path is being locked. */
interface HeldLock {
  readonly ledgerID: Hex;
  readonly state: State;
  readonly sig: Hex;
  readonly from: number;
}

/** What every member of V's path keeps: the path, the ledger channel of every hop, fees and expiry. */
interface VirtualInfo {
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
  /** Rules of app channels, by app address (payment channels need none). */
  readonly apps?: ReadonlyMap<string, AppRules>;
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
}

/** A fully signed state with its params: what `register` takes for a (sub-)channel. */
interface SignedSub {
  readonly params: Params;
  readonly state: State;
  readonly sigs: readonly Hex[];
}

interface Waiter {
  resolve(v: State): void;
  reject(e: unknown): void;
}

const INTERMEDIARY_KEY = "client.intermediary";

/** Most virtual-channel contexts an intermediary keeps while no lock of them exists (flooding). */
const MAX_PENDING_CONTEXTS = 1_000;

/** Challenge duration of a channel opened without one, moved into the policy's bounds. */
const DEFAULT_CHALLENGE_DURATION = 60n;

const ACTIVE: readonly Machine["phase"][] = ["InitSigning", "Funding", "Acting", "Signing", "Final"];

export class Client {
  readonly address: Address;
  private readonly records = new Map<string, ChannelRecord>();
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Waiters for our own proposals, by `${channelID}:${version}`. */
  private readonly waiters = new Map<string, Waiter>();
  /** Our open proposals by proposal id, with the peer whose answer alone counts. */
  private readonly proposalWaiters = new Map<
    string,
    { peer: Address; resolve(sig: Hex): void; reject(e: unknown): void }
  >();
  /** Ids of channels a peer proposed that are being decided (reserved before the first await). */
  private readonly opening = new Set<string>();
  /** The one funding run of each ledger channel in Funding, however many messages ask for it. */
  private readonly fundingRuns = new Map<string, Promise<void>>();
  private readonly closedWaiters = new Map<string, { resolve(): void; reject(e: unknown): void }[]>();
  private readonly busyChain = new Set<string>();
  private readonly eventHandlers: ((e: ClientEvent) => void)[] = [];
  private proposalHandler: ProposalHandler = () => ({ accept: false, reason: "no proposal handler" });
  private updateHandler: UpdateHandler = (u) => asDecision(checkUpdate(this.deps.policy, u));
  private readonly log: Logger;
  private readonly peerTimeoutMs: number;
  private readonly pollMs: number;
  private readonly graceMs: number;
  private closed = false;
  /** Intermediary: V contexts by V id, and lock proposals waiting for their twin. */
  private readonly virtualContexts = new Map<string, VirtualFundingMsg>();
  /**
   * Lock proposals of a peer we hold, by ledger channel, while V's path is being locked: we keep the
   * peer's signature, so we can complete the lock even if a re-sync voided the proposal meanwhile, and
   * nothing else is signed in that channel until we decided.
   */
  private readonly heldLocks = new Map<string, HeldLock>();
  /** Ledger channels being unlocked or disputed because a virtual channel they lock expired. */
  private readonly closingExpired = new Set<string>();
  /** When we first found a channel ready to conclude (participant 1 waits `chainBackoffMs` more). */
  private readonly concludeDueAt = new Map<string, number>();
  private readonly chainBackoffMs: number;
  /** Chain requests retried from the tick wait until then (ms since the epoch), not every poll. */
  private readonly retryAfter = new Map<string, number>();
  private readonly virtualFinals = new Map<string, VirtualFinalMsg>();
  /** Fully signed states learned from registrations on chain, by channel id. */
  private readonly chainStates = new Map<string, SignedSub[]>();
  private readonly pendingLocks = new Map<
    string,
    Map<number, { prev: State; next: State; params: Params; decide: (d: Decision) => void }>
  >();

  constructor(private readonly deps: ClientDeps) {
    this.address = deps.signer.address;
    this.log = deps.log ?? (() => {});
    this.peerTimeoutMs = deps.options?.peerTimeoutMs ?? 10_000;
    this.pollMs = deps.options?.pollMs ?? 200;
    this.graceMs = deps.options?.concludeFinalGraceMs ?? 3_000;
    this.chainBackoffMs = deps.options?.chainBackoffMs ?? Math.max(1_000, 5 * this.pollMs);
    deps.transport.onMessage((m) => this.onInbound(m));
    deps.transport.onPeerConnected((peer) => this.syncWith(peer));
  }

  onProposal(handler: ProposalHandler): void {
    this.proposalHandler = handler;
  }

  onUpdate(handler: UpdateHandler): void {
    this.updateHandler = handler;
  }

  onEvent(handler: (e: ClientEvent) => void): void {
    this.eventHandlers.push(handler);
  }

  /**
   * Loads every channel from the store and resumes what was under way: funding
   * waits, settlements; peers re-sync as soon as their connection is up.
   */
  async start(): Promise<void> {
    for (const rec of this.deps.store.listChannels()) {
      this.records.set(rec.channelID.toLowerCase(), rec);
    }
    this.loadIntermediaryState();
    // Lock proposals we held when we stopped: decide them again (our other lock may be signed by now).
    for (const h of this.heldLocks.values()) {
      const rec = this.findRecord(h.ledgerID);
      const cur = rec?.machine.current?.state;
      if (!rec || !cur || cur.version !== h.state.version - 1n) {
        this.heldLocks.delete(h.ledgerID.toLowerCase());
        continue;
      }
      void this.decideVirtualLedgerUpdate(rec, cur, h.state)
        .then((d) => this.answerHeld(h.ledgerID, h.state, d))
        .catch((e) => this.logError(h.ledgerID, e));
    }
    for (const rec of [...this.records.values()]) {
      const phase = rec.machine.phase;
      if (phase === "InitSigning") {
        // Our proposal's round died with the process: nothing of ours is deposited or locked for it.
        await this.abandon(rec.channelID, "InitSigning", "restarted before the peer signed our proposal");
        continue;
      }
      if (phase === "Funding" && rec.machine.params.ledgerChannel)
        void this.fundAndWait(rec.channelID).catch((e) => this.logError(rec.channelID, e));
      if (phase === "Funding" && rec.machine.params.virtualChannel && rec.meta.abandoned === undefined) {
        // Funded only by our lock: propose it again (or learn that it is signed or refused).
        const info = rec.meta.virtual as VirtualInfo;
        const hop = rec.machine.idx === 0 ? 0 : info.path.length - 2;
        void this.lockVirtual(rec.channelID, hop).catch((e) => this.logError(rec.channelID, e));
      }
      if (ACTIVE.includes(phase) && rec.machine.current !== null) {
        const peer = this.peerOf(rec);
        void this.sendSync(rec, peer).catch(() => undefined);
      }
    }
  }

  /** Channels with their phase, version and balances. */
  channels(): ChannelInfo[] {
    return [...this.records.values()]
      .filter((r) => r.meta.abandoned === undefined)
      .map((r) => {
        const cur = r.machine.current?.state ?? null;
        return {
          channelID: r.channelID,
          peer: this.peerOf(r),
          idx: r.machine.idx,
          phase: r.machine.phase,
          version: cur?.version ?? null,
          balances: cur ? cur.outcome.balances.map((row) => [...row]) : null,
          assets: cur?.outcome.assets ?? r.machine.pending?.state.outcome.assets ?? [],
          ...(r.meta.virtual
            ? {
                virtual: {
                  path: (r.meta.virtual as { path: Address[] }).path,
                  unlocked: r.meta.unlocked === true,
                },
              }
            : {}),
        };
      });
  }

  channel(channelID: Hex): ChannelInfo {
    const info = this.channels().find((c) => c.channelID.toLowerCase() === channelID.toLowerCase());
    if (!info) throw new UnknownChannelError(channelID);
    return info;
  }

  // ------------------------------------------------------------------ open

  /**
   * Proposes a ledger channel to `peer`; resolves once both signed version 0
   * and both deposits are on chain. If the peer does not fund in time, our
   * deposit is recovered on chain and this rejects with FundingTimeoutError.
   */
  async openChannel(req: OpenChannelRequest): Promise<Hex> {
    const policy = this.deps.policy;
    const params = validateParams({
      challengeDuration: req.challengeDuration ?? clamp(DEFAULT_CHALLENGE_DURATION, policy.challengeDuration),
      nonce: BigInt(`0x${randomBytes(32).toString("hex")}`),
      participants: [
        { ethAddress: this.address, ccAddress: "0x" },
        { ethAddress: req.peer, ccAddress: "0x" },
      ],
      app: req.app ?? ZERO_ADDRESS,
      ledgerChannel: true,
      virtualChannel: false,
    });
    let machine = createMachine(params, 0);
    const initial = validateState(
      {
        channelID: machine.channelID,
        version: 0n,
        outcome: {
          assets: req.assets,
          backends: req.assets.map(() => 0n),
          balances: req.balances.map((b) => [b[0], b[1]]),
          locked: [],
        },
        appData: req.appData ?? "0x",
        isFinal: false,
      },
      params,
      machine.channelID,
    );
    const fundingTimeout = req.fundingTimeout ?? clamp(600n, policy.fundingTimeout);
    // Our own channel too: a typo of a 1 s challenge duration or a foreign asset would cost us as dearly.
    enforce(checkLedgerChannel(policy, { params, initial, fundingTimeout, idx: 0, ours: true }));
    const proposalID = `0x${randomBytes(32).toString("hex")}` as Hex;
    const t = proposeInit(machine, initial, this.deps.signer, this.rules(params));
    machine = t.machine;
    const sig = machine.pending?.sigs[0] as Hex;
    const rec: ChannelRecord = {
      channelID: machine.channelID,
      machine,
      peers: [this.address, req.peer],
      fundingDeadline: null,
      meta: { proposalID, fundingTimeout, role: "proposer", deposits: initial.outcome.balances },
    };
    // Persist our signed initial state before it leaves.
    this.persist(rec);
    const answer = new Promise<Hex>((resolve, reject) => {
      this.proposalWaiters.set(proposalID, { peer: req.peer, resolve, reject });
    });
    let peerSig: Hex;
    try {
      try {
        await this.deps.transport.send(req.peer, {
          type: "channelProposal",
          proposalID,
          params,
          initial,
          sig,
          fundingTimeout,
        });
      } catch (err) {
        // Never sent: nobody will await the answer, so close() must not reject it (unhandled).
        this.proposalWaiters.delete(proposalID);
        throw err;
      }
      this.emit({ type: "proposed", channelID: machine.channelID, peer: req.peer });
      try {
        peerSig = await this.withTimeout(answer, `the channel proposal`, req.peer);
      } finally {
        this.proposalWaiters.delete(proposalID);
      }
    } catch (err) {
      // Refused, unanswered or unsent: we deposited nothing. Should the peer have signed after all,
      // its own funding deadline recovers its deposit; the channel is nothing to us.
      await this.abandon(rec.channelID, "InitSigning", errorText(err));
      throw err;
    }
    await this.inQueue(rec.channelID, async () => {
      const cur = this.record(rec.channelID);
      if (cur.machine.phase !== "InitSigning") return; // a re-sync got there first
      this.apply(cur, receiveAcceptance(cur.machine, peerSig, 1, 0n));
    });
    this.emit({ type: "opened", channelID: rec.channelID });
    await this.fundAndWait(rec.channelID);
    return rec.channelID;
  }

  // ---------------------------------------------------------------- update

  /**
   * Proposes the state `build(current)` (version + 1) and resolves with it once
   * the peer signed. A proposal that loses the concurrent-proposal tie-break is
   * rebuilt on the new current state and retried.
   */
  async update(channelID: Hex, build: (current: State) => State): Promise<State> {
    // Our own updates of one channel go one at a time (a second would find the channel in
    // Signing); the peer's proposals still interleave through the channel queue.
    return this.inQueue(`local:${channelID}` as Hex, async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.updateOnce(channelID, build);
        } catch (err) {
          if (!(err instanceof ProposalDroppedError) || attempt >= 5) throw err;
        }
      }
    });
  }

  /** Pays `amount` of asset `asset` to the peer. */
  pay(channelID: Hex, amount: bigint, asset = 0): Promise<State> {
    const rec = this.record(channelID);
    const me = rec.machine.idx;
    return this.update(channelID, (s) => payment(s, asset, me, 1 - me, amount));
  }

  private async updateOnce(channelID: Hex, build: (current: State) => State): Promise<State> {
    const done = await this.inQueue(channelID, async () => {
      const rec = this.record(channelID);
      if (rec.machine.phase !== "Acting") throw new ChannelBusyError(channelID, rec.machine.phase);
      if (this.heldLocks.has(channelID.toLowerCase())) {
        throw new ChannelBusyError(channelID, "holding a lock proposal");
      }
      // Wrapped: returning the promise itself would hold the queue until the peer answers.
      return this.propose(rec, build);
    });
    return this.withTimeout(done.waiter, `update ${channelID}`, this.peerOf(this.record(channelID)));
  }

  // ---------------------------------------------------------------- settle

  /**
   * Closes the channel and withdraws our funds. Cooperative by default: a final
   * state signed by both, concludeFinal, withdraw. With `force` (or when the
   * peer does not answer), by dispute: register our latest state, wait for the
   * challenge duration, conclude, withdraw.
   */
  async settle(channelID: Hex, opts: { force?: boolean } = {}): Promise<void> {
    if (!opts.force) {
      const locked = this.record(channelID).machine.current?.state.outcome.locked ?? [];
      if (locked.length > 0)
        throw new LockedFundsError(
          channelID,
          locked.map((l) => l.ID),
        );
    }
    const closedP = this.waitClosed(channelID);
    if (!opts.force) {
      const rec = this.record(channelID);
      if (rec.machine.phase === "Acting") {
        try {
          const finalState = await this.inQueue(channelID, async () => {
            const r = this.record(channelID);
            const t = proposeFinal(r.machine, this.deps.signer, this.rules(r.machine.params));
            const waiter = this.waitFor(channelID, (r.machine.current?.state.version as bigint) + 1n);
            this.apply(r, t);
            return { waiter };
          });
          await this.withTimeout(finalState.waiter, `the final state of ${channelID}`, this.peerOf(rec));
        } catch (err) {
          this.log("warn", "cooperative close failed; settling by dispute", {
            channelID,
            error: String(err),
          });
        }
      }
      const now = this.record(channelID);
      if (now.machine.phase === "Final") {
        await this.concludeFinalOnChain(now);
        await closedP;
        return;
      }
    }
    await this.dispute(channelID);
    await closedP;
  }

  /** Starts a dispute: registers our latest fully signed state on chain. The watcher does the rest. */
  async dispute(channelID: Hex): Promise<void> {
    const signed = await this.inQueue(channelID, async () => {
      const rec = this.record(channelID);
      if (
        ["Registering", "Registered", "Progressing", "Progressed", "Withdrawing", "Withdrawn"].includes(
          rec.machine.phase,
        )
      ) {
        return null;
      }
      const t = register(rec.machine);
      this.apply(rec, t);
      return t.effects.find((e) => e.type === "register");
    });
    if (signed && signed.type === "register") {
      await this.registerOnChain(this.record(channelID));
    }
  }

  // ------------------------------------------------------------ chain events

  /**
   * A ChannelUpdate event from the watcher: a registration (refute it if we
   * hold a newer state), a progress, or the conclusion (withdraw our funds).
   */
  async onChainUpdate(ev: ChannelUpdateEvent): Promise<void> {
    const key = ev.channelID.toLowerCase();
    const rec = this.records.get(key);
    const intermediated = this.virtualContexts.has(key);
    if (!rec && !intermediated) return;
    if (ev.phase === DisputePhase.DISPUTE) await this.learnRegistered(ev.transactionHash);
    // A sub-channel (virtual channel) that one of our ledger channels locks went on chain: settle it in
    // that ledger channel too (as intermediary, and as an end whose peer or intermediary started it).
    if (intermediated || rec?.machine.params.virtualChannel) await this.defendIntermediated(ev.channelID);
    if (!rec) return;
    const id = rec.channelID;
    if (ev.phase === DisputePhase.DISPUTE || ev.phase === DisputePhase.FORCEEXEC) {
      const refute = await this.inQueue(id, async () => {
        const r = this.record(id);
        if (
          !["Funding", "Acting", "Signing", "Final", "Registering", "Registered"].includes(r.machine.phase)
        ) {
          return false;
        }
        const ours = r.machine.current?.state.version ?? 0n;
        const t = registered(r.machine, ev.version, ev.timeout);
        this.apply(r, t);
        this.emit({ type: "disputed", channelID: id, version: ev.version, timeout: ev.timeout });
        if (t.effects.some((e) => e.type === "register")) {
          this.emit({ type: "refuted", channelID: id, stale: ev.version, ours });
          return true;
        }
        return false;
      });
      if (refute) await this.registerOnChain(this.record(id));
      this.forceRightDecision(id);
      return;
    }
    if (ev.phase === DisputePhase.CONCLUDED) {
      await this.inQueue(id, async () => {
        const r = this.record(id);
        if (["Withdrawing", "Withdrawn"].includes(r.machine.phase)) return;
        if (["InitActing", "InitSigning", "Acting", "Signing", "Funding"].includes(r.machine.phase)) {
          // Concluded without us seeing the registration (e.g. we were offline): go via Registered.
          this.apply(r, registered(r.machine, ev.version, ev.timeout));
        }
        this.apply(this.record(id), concluded(this.record(id).machine, ev.version));
      });
      this.emit({ type: "concluded", channelID: id, version: ev.version });
      await this.withdrawAll(id);
    }
  }

  /**
   * Clock tick from the watcher with the chain time: concludes disputes whose
   * timeout passed, and final states the peer did not conclude.
   */
  async tick(now: bigint): Promise<void> {
    for (const rec of [...this.records.values()]) {
      const m = rec.machine;
      if (
        (m.phase === "Registered" || m.phase === "Progressed") &&
        m.dispute &&
        now >= concludableAt(m) &&
        !m.params.virtualChannel // concluded through its ledger channels
      ) {
        await this.concludeOnChain(rec);
      } else if (m.phase === "Registering" && !m.params.virtualChannel) {
        await this.retryRegistration(rec, now);
      } else if (m.phase === "Withdrawing") {
        await this.withdrawAll(rec.channelID);
      } else if (m.phase === "Final") {
        const finalAt = Number(rec.meta.finalAt ?? 0);
        if (finalAt > 0 && Date.now() - finalAt > this.graceMs) await this.concludeFinalOnChain(rec);
      }
    }
    await this.closeExpired(now);
    // A lock that became signed only after its virtual channel went on chain (we held it meanwhile):
    // the ledger channel must follow V to the chain, or V's outcome could never be paid out of it.
    for (const rec of [...this.records.values()]) {
      const m = rec.machine;
      if (!m.params.ledgerChannel || m.phase !== "Acting") continue;
      const onChain = m.current?.state.outcome.locked.find((l) => this.chainStates.has(l.ID.toLowerCase()));
      if (onChain) this.followToChain(rec, onChain.ID);
    }
  }

  /**
   * Virtual channels past their expiry. An end closes its own V cooperatively (final state, unlocks;
   * still no transaction). An intermediary waits `virtualExpiryGraceSeconds` more for that, then
   * unlocks with V's final state where she knows it, and otherwise disputes her ledger channels that
   * still lock V: her collateral is never tied up beyond the time she was paid for.
   */
  private async closeExpired(now: bigint): Promise<void> {
    for (const rec of [...this.records.values()]) {
      const info = rec.meta.virtual as VirtualInfo | undefined;
      if (info && rec.machine.phase === "Funding" && now >= info.expiry && rec.meta.abandoned === undefined) {
        // Never funded before its expiry: give it up, unless our lock of it is signed or still out.
        const ledger = this.findRecord(info.ledger)?.machine;
        const lockOut =
          locksSubChannel(ledger?.current?.state, rec.channelID) ||
          locksSubChannel(ledger?.pending?.state, rec.channelID);
        if (!lockOut) void this.abandon(rec.channelID, "Funding", "expired before its locks were signed");
        continue;
      }
      if (!info || rec.meta.expiring === true || rec.machine.phase !== "Acting" || now < info.expiry)
        continue;
      if (rec.machine.idx !== 0) continue; // V.alice closes; V.bob accepts (and unlocks his side)
      this.persist({ ...rec, meta: { ...rec.meta, expiring: true } });
      this.log("info", "virtual channel expired: closing it", { channelID: rec.channelID });
      void this.settleVirtual(rec.channelID).catch((e) => this.logError(rec.channelID, e));
    }
    if (!this.deps.options?.intermediary) return;
    const grace = this.deps.options.virtualExpiryGraceSeconds ?? 600n;
    for (const ctx of this.virtualContexts.values()) {
      if (now < ctx.expiry + grace) continue;
      const vID = ctx.initial.channelID;
      const fin = this.virtualFinals.get(vID.toLowerCase());
      for (const ledger of [...this.records.values()]) {
        if (
          !ledger.machine.params.ledgerChannel ||
          ledger.machine.phase !== "Acting" ||
          !locksSubChannel(ledger.machine.current?.state, vID) ||
          this.closingExpired.has(ledger.channelID.toLowerCase())
        ) {
          continue;
        }
        const id = ledger.channelID;
        this.closingExpired.add(id.toLowerCase());
        this.log("warn", "virtual channel expired and still locked: closing it through our ledger channel", {
          virtual: vID,
          ledger: id,
        });
        const params = ledger.machine.params;
        const attempt = fin
          ? this.update(id, (st) => unlockFromLedger(st, params, fin.state)).then(() => undefined)
          : Promise.reject(new PerunError("VIRTUAL_EXPIRED", "no final state"));
        void attempt
          .catch(() => this.dispute(id))
          .catch((e) => this.logError(id, e))
          .finally(() => this.closingExpired.delete(id.toLowerCase()));
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const err = new PerunError("CLIENT_CLOSED", "The client was closed.");
    for (const w of this.waiters.values()) w.reject(err);
    for (const w of this.proposalWaiters.values()) w.reject(err);
    for (const ws of this.closedWaiters.values()) for (const w of ws) w.reject(err);
    this.waiters.clear();
    this.proposalWaiters.clear();
    this.closedWaiters.clear();
    await Promise.allSettled([...this.queues.values()]);
  }

  // --------------------------------------------------------------- inbound

  private onInbound({ from, msg }: Inbound): void {
    if (this.closed) return;
    const handle = async () => {
      switch (msg.type) {
        case "channelProposal":
          return this.handleProposal(from, msg);
        case "channelAccept": {
          const w = this.proposalWaiterOf(msg.proposalID, from);
          if (w) w.resolve(msg.sig);
          return;
        }
        case "channelReject": {
          const w = this.proposalWaiterOf(msg.proposalID, from);
          if (!w) return;
          w.reject(new ProposalRejectedError(from, msg.reason));
          this.emit({ type: "rejected", peer: from, reason: msg.reason });
          return;
        }
        case "virtualProposal":
          return this.handleVirtualProposal(from, msg);
        case "virtualAccept": {
          const w = this.proposalWaiterOf(msg.proposalID, from);
          if (w) w.resolve(msg.sig);
          return;
        }
        case "virtualReject": {
          const w = this.proposalWaiterOf(msg.proposalID, from);
          if (w) w.reject(new ProposalRejectedError(from, msg.reason));
          return;
        }
        case "virtualFunding":
          return this.handleVirtualFunding(from, msg);
        case "virtualFinal":
          return this.handleVirtualFinal(from, msg);
        case "error":
          this.log("warn", "peer reported an error", { peer: from, reason: msg.reason });
          if (msg.channelID) await this.peerRefused(from, msg.channelID, msg.reason);
          return;
        default:
          return this.handleChannelMsg(from, msg);
      }
    };
    handle().catch((err) => {
      this.log("warn", "rejected a peer message", { peer: from, type: msg.type, reason: errorText(err) });
      const channelID = "channelID" in msg ? msg.channelID : undefined;
      void this.deps.transport
        .send(from, {
          type: "error",
          reason: errorText(err).slice(0, 1000),
          ...(channelID ? { channelID } : {}),
        })
        .catch(() => undefined);
      // A proposal of a version we already hold: the peer is behind (it missed our answer, e.g. a
      // duplicate after a re-sync voided its proposal that we had signed). Without our latest state
      // it would propose that version again and again; after the error (so that the error cannot
      // void what the sync gives it) it gets our latest fully signed state.
      if (msg.type === "update") this.syncIfBehind(from, msg.channelID, msg.state.version);
    });
  }

  /** The waiter of our proposal `proposalID`, if `from` is the peer we proposed to (nobody else may answer). */
  private proposalWaiterOf(proposalID: Hex, from: Address) {
    const w = this.proposalWaiters.get(proposalID);
    return w && sameAddress(w.peer, from) ? w : undefined;
  }

  private syncIfBehind(from: Address, channelID: Hex, version: bigint): void {
    const rec = this.findRecord(channelID);
    const cur = rec?.machine.current;
    if (!rec || !cur || !sameAddress(this.peerOf(rec), from) || version > cur.state.version) return;
    void this.sendSync(rec, from).catch(() => undefined);
  }

  private async handleProposal(
    from: Address,
    msg: Extract<WireMsg, { type: "channelProposal" }>,
  ): Promise<void> {
    const params = msg.params;
    const parts = params.participants;
    const reject = (reason: string) =>
      this.deps.transport.send(from, { type: "channelReject", proposalID: msg.proposalID, reason });
    if (parts.length !== 2 || !params.ledgerChannel || params.virtualChannel) {
      return reject("only two-party ledger channels are supported");
    }
    if (!sameAddress(parts[0]?.ethAddress, from)) {
      // The proposer must be participant 0 and the authenticated sender.
      return reject("the proposer is not participant 0");
    }
    if (!sameAddress(parts[1]?.ethAddress, this.address)) return reject("we are not participant 1");
    const machine0 = createMachine(params, 1);
    const key = machine0.channelID.toLowerCase();
    // The same proposal twice must never make two channels (and two funding runs): the id is reserved
    // before the first await and checked again after the last.
    if (this.records.has(key) || this.opening.has(key)) return reject("channel id already in use");
    const rules = this.rules(params);
    // Validates the initial state and the proposer's signature; throws (-> error reply) if invalid.
    const t = receiveUpdate(machine0, msg.initial, msg.sig, 0, rules);
    const verdict = checkLedgerChannel(this.deps.policy, {
      params,
      initial: msg.initial,
      fundingTimeout: msg.fundingTimeout,
      idx: 1,
      ours: false,
    });
    if (!verdict.ok) return reject(`${verdict.reason} (policy: ${verdict.rule})`);
    this.opening.add(key);
    try {
      const d = await this.proposalHandler({
        from,
        params,
        initial: msg.initial,
        fundingTimeout: msg.fundingTimeout,
      });
      if (!d.accept) return reject(d.reason);
      const accepted = await this.inQueue(machine0.channelID, async () => {
        if (this.records.has(key)) return false;
        const rec: ChannelRecord = {
          channelID: machine0.channelID,
          machine: t.machine,
          peers: [from, this.address],
          fundingDeadline: null,
          meta: {
            proposalID: msg.proposalID,
            fundingTimeout: msg.fundingTimeout,
            role: "responder",
            deposits: msg.initial.outcome.balances,
          },
        };
        this.records.set(key, rec);
        this.apply(rec, acceptUpdate(t.machine, this.deps.signer));
        return true;
      });
      if (!accepted) return reject("channel id already in use");
    } finally {
      this.opening.delete(key);
    }
    this.emit({ type: "opened", channelID: machine0.channelID });
    void this.fundAndWait(machine0.channelID).catch((e) => this.logError(machine0.channelID, e));
  }

  private async handleChannelMsg(
    from: Address,
    msg: Extract<WireMsg, { type: "update" | "updateAccept" | "updateReject" | "sync" }>,
  ): Promise<void> {
    const rec = this.findRecord(msg.channelID);
    if (!rec) throw new UnknownChannelError(msg.channelID);
    // The sender's claimed participant index must be the authenticated address.
    const claimed = rec.machine.params.participants[msg.type === "sync" ? 1 - rec.machine.idx : msg.from];
    if (
      !claimed ||
      !sameAddress(claimed.ethAddress, from) ||
      (msg.type !== "sync" && msg.from === rec.machine.idx)
    ) {
      throw new PerunError("SENDER_MISMATCH", "The message claims to come from another participant.", {
        details: { from, claimedIndex: msg.type === "sync" ? "-" : msg.from },
      });
    }
    const id = rec.channelID;
    const peerIdx = 1 - rec.machine.idx;
    switch (msg.type) {
      case "update": {
        const decided = await this.inQueue(id, async () => {
          // The peer saw the funding complete before our poll did: check now rather than refuse.
          const funding = this.record(id).machine;
          if (funding.phase === "Funding" && funding.params.ledgerChannel && (await this.allDeposited(id)))
            this.markFunded(id);
          const r = this.record(id);
          const cur = r.machine.current;
          if (
            cur &&
            cur.state.version === msg.state.version &&
            cur.sigs.every((x) => x !== null) &&
            hashState(cur.state) === hashState(msg.state)
          ) {
            // A proposal we signed already (our answer crossed a re-sync): the peer gets the state with
            // both signatures instead of an error that would make it give the state up.
            await this.sendSync(r, from);
            return null;
          }
          const held = this.heldLocks.get(id.toLowerCase());
          if (held && hashState(held.state) !== hashState(msg.state)) {
            throw new ChannelBusyError(id, "holding a lock proposal");
          }
          if (held) {
            // The same lock again (its proposer re-synced): held once more; the decision under way answers it.
            if (r.machine.phase === "Acting") {
              const again = receiveUpdate(
                r.machine,
                msg.state,
                msg.sig,
                msg.from,
                this.rules(r.machine.params),
              );
              this.records.set(id.toLowerCase(), { ...r, machine: again.machine });
            }
            return null;
          }
          const t = receiveUpdate(r.machine, msg.state, msg.sig, msg.from, this.rules(r.machine.params));
          if (t.machine.pending === null || t.machine.pending.proposer === r.machine.idx) {
            // Our own concurrent proposal wins the tie-break: the peer drops its.
            return null;
          }
          this.dropEffects(t.effects);
          const current = r.machine.current?.state as State;
          if (r.machine.params.ledgerChannel && locksChanged(current, msg.state)) {
            // A lock may wait for the rest of V's path: we hold the proposal (nothing else is signed in
            // this channel meanwhile) and leave the queue free for the peer's other messages.
            this.records.set(id.toLowerCase(), { ...r, machine: t.machine });
            this.heldLocks.set(id.toLowerCase(), {
              ledgerID: id,
              state: msg.state,
              sig: msg.sig,
              from: msg.from,
            });
            this.saveIntermediaryState();
            void this.decideVirtualLedgerUpdate(r, current, msg.state)
              .then((d) => this.answerHeld(id, msg.state, d))
              .catch((e) => this.logError(id, e));
            return null;
          }
          const decision = await this.updateHandler({
            channelID: id,
            from,
            current,
            next: msg.state,
            delta: balanceDelta(current, msg.state, r.machine.idx),
          });
          // The peer's proposal itself needs no persisting: nothing of ours leaves until we sign.
          if (decision.accept) {
            this.apply(r, acceptUpdate(t.machine, this.deps.signer));
            if (
              msg.state.isFinal &&
              r.machine.params.virtualChannel &&
              this.deps.options?.unlockOnFinal !== false
            ) {
              void this.unlockVirtual(id).catch((e) => this.logError(id, e));
            } else if (msg.state.isFinal)
              this.persist({ ...this.record(id), meta: { ...this.record(id).meta, finalAt: Date.now() } });
          } else {
            this.apply(r, rejectUpdate(t.machine, decision.reason));
          }
          return decision;
        });
        return void decided;
      }
      case "updateAccept":
        return this.inQueue(id, async () => {
          const r = this.record(id);
          const pending = r.machine.pending;
          if (pending === null || pending.proposer !== r.machine.idx || pending.state.version !== msg.version)
            return;
          this.apply(r, receiveAcceptance(r.machine, msg.sig, msg.from, msg.version));
        });
      case "updateReject":
        return this.inQueue(id, async () => {
          const r = this.record(id);
          const pending = r.machine.pending;
          if (pending === null || pending.proposer !== r.machine.idx || pending.state.version !== msg.version)
            return;
          this.failWaiter(id, msg.version, new UpdateRejectedError(id, msg.version, msg.reason));
          this.apply(r, receiveRejection(r.machine, msg.from, msg.version, msg.reason));
        });
      case "sync":
        return this.inQueue(id, async () => {
          const r = this.record(id);
          const ours = r.machine.current;
          this.apply(r, receiveSync(r.machine, msg.state, msg.sigs, peerIdx));
          // The peer is behind: tell it what we have (only then, so syncs never ping-pong).
          if (ours && ours.state.version > msg.state.version) await this.sendSync(this.record(id), from);
          if (
            this.record(id).machine.phase === "Funding" &&
            r.machine.phase === "InitSigning" &&
            !r.machine.params.virtualChannel
          ) {
            void this.fundAndWait(id).catch((e) => this.logError(id, e));
          }
        });
    }
  }

  /**
   * The peer refused a message of ours about `channelID` as invalid. If our
   * proposal is pending, the peer did not sign it: it is void, like a rejection.
   */
  private async peerRefused(from: Address, channelID: Hex, reason: string): Promise<void> {
    const rec = this.findRecord(channelID);
    if (!rec || !sameAddress(this.peerOf(rec), from)) return;
    await this.inQueue(rec.channelID, async () => {
      const r = this.record(rec.channelID);
      const pending = r.machine.pending;
      if (pending === null || pending.proposer !== r.machine.idx || r.machine.phase !== "Signing") return;
      const version = pending.state.version;
      this.failWaiter(r.channelID, version, new UpdateRejectedError(r.channelID, version, reason));
      this.apply(r, receiveRejection(r.machine, 1 - r.machine.idx, version, reason));
    });
  }

  // ---------------------------------------------------------------- virtual channels

  /**
   * Opens a virtual channel V with `peer` through the intermediaries `via` (design.md section 5), with
   * no transaction: both ends sign V's initial state, then V's funds are locked in every ledger channel
   * along the path (see `lockVirtual` for the order that keeps every intermediary whole). Resolves with
   * V's id once our lock is signed; V is then updated directly with `update`/`pay`, without them.
   */
  async openVirtualChannel(req: OpenVirtualRequest): Promise<Hex> {
    const ledger = this.record(req.ledger);
    if (ledger.machine.phase !== "Acting") throw new ChannelBusyError(req.ledger, ledger.machine.phase);
    const via: Address[] = typeof req.via === "string" ? [req.via] : [...req.via];
    const peerLedgers: Hex[] = typeof req.peerLedger === "string" ? [req.peerLedger] : [...req.peerLedger];
    const fees: bigint[][] =
      req.fee.length > 0 && typeof req.fee[0] === "bigint"
        ? [[...(req.fee as readonly bigint[])]]
        : (req.fee as readonly (readonly bigint[])[]).map((f) => [...f]);
    if (via.length === 0 || peerLedgers.length !== via.length) {
      throw new PerunError(
        "VIRTUAL_PATH",
        `A path through ${via.length} intermediaries needs ${via.length} ledger channels after ours, got ${peerLedgers.length}.`,
      );
    }
    if (!sameAddress(this.peerOf(ledger), via[0])) {
      throw new PerunError("NOT_OUR_INTERMEDIARY", `Ledger channel ${req.ledger} is not with ${via[0]}.`);
    }
    const assets = (ledger.machine.current?.state as State).outcome.assets;
    const params = virtualParams({
      alice: this.address,
      bob: req.peer,
      nonce: BigInt(`0x${randomBytes(32).toString("hex")}`),
      // V's dispute must fit into our ledger channel's (see the staircase rule of the policy).
      challengeDuration:
        req.challengeDuration ??
        min(
          clamp(DEFAULT_CHALLENGE_DURATION, this.deps.policy.challengeDuration),
          ledger.machine.params.challengeDuration,
        ),
    });
    const initial = virtualInitialState(params, assets, req.balances);
    const path = [this.address, ...via, req.peer];
    const ledgerIDs = [req.ledger, ...peerLedgers];
    const now = await this.deps.chain.now();
    const expiry = now + req.seconds;
    pathLocks(path, initial, fees); // validates shapes before anything is signed
    enforce(
      checkVirtualChannel(this.deps.policy, {
        params,
        initial,
        expiry,
        now,
        idx: 0,
        ours: true,
        ledgerChallenge: ledger.machine.params.challengeDuration,
      }),
    );
    const proposalID = `0x${randomBytes(32).toString("hex")}` as Hex;
    const t = proposeInit(createMachine(params, 0), initial, this.deps.signer);
    const vID = t.machine.channelID;
    const virtual: VirtualInfo = { path, ledgerIDs, fees, expiry, ledger: req.ledger };
    this.persist({
      channelID: vID,
      machine: t.machine,
      peers: [this.address, req.peer],
      fundingDeadline: null,
      meta: { proposalID, role: "proposer", virtual },
    });
    const answer = new Promise<Hex>((resolve, reject) =>
      this.proposalWaiters.set(proposalID, { peer: req.peer, resolve, reject }),
    );
    try {
      await this.deps.transport.send(req.peer, {
        type: "virtualProposal",
        proposalID,
        path,
        ledgerIDs,
        params,
        initial,
        sig: t.machine.pending?.sigs[0] as Hex,
        fees,
        expiry,
      });
      const peerSig = await this.withTimeout(answer, "the virtual channel proposal", req.peer);
      await this.inQueue(vID, async () => {
        const r = this.record(vID);
        if (r.machine.phase === "InitSigning") this.apply(r, receiveAcceptance(r.machine, peerSig, 1, 0n));
      });
    } catch (err) {
      // Nothing is locked for V yet: V is nothing to us (the peer, should it have signed, locks nothing
      // without our context reaching the intermediaries).
      await this.abandon(vID, "InitSigning", errorText(err));
      throw err;
    } finally {
      this.proposalWaiters.delete(proposalID);
    }
    await this.lockVirtual(vID, 0);
    return vID;
  }

  /** The peer proposes V to us: check that we are its last participant and have the ledger channel. */
  private async handleVirtualProposal(from: Address, msg: Extract<WireMsg, { type: "virtualProposal" }>) {
    const reject = (reason: string) =>
      this.deps.transport.send(from, { type: "virtualReject", proposalID: msg.proposalID, reason });
    const { params, path } = msg;
    const last = path.length - 1;
    if (path.length < 3 || msg.ledgerIDs.length !== last || msg.fees.length !== path.length - 2) {
      return reject("the path, its ledger channels and its fees do not fit together");
    }
    if (!sameAddress(path[0], from) || !sameAddress(path[last], this.address))
      return reject("we are not the path's end");
    if (!params.virtualChannel || !sameAddress(params.participants[0]?.ethAddress, from)) {
      return reject("not a virtual channel proposed by its first participant");
    }
    if (!sameAddress(params.participants[1]?.ethAddress, this.address))
      return reject("we are not participant 1");
    const ledger = this.findRecord(msg.ledgerIDs[last - 1] as Hex);
    if (!ledger || ledger.machine.phase !== "Acting" || !sameAddress(this.peerOf(ledger), path[last - 1])) {
      return reject("we have no open ledger channel with the last intermediary");
    }
    const now = await this.deps.chain.now();
    const t = receiveUpdate(createMachine(params, 1), msg.initial, msg.sig, 0);
    const vID = t.machine.channelID;
    const key = vID.toLowerCase();
    if (this.findRecord(vID) || this.opening.has(key)) return reject("channel id already in use");
    try {
      pathLocks(path, msg.initial, msg.fees);
    } catch (err) {
      return reject(`invalid path: ${errorText(err)}`);
    }
    const verdict = checkVirtualChannel(this.deps.policy, {
      params,
      initial: msg.initial,
      expiry: msg.expiry,
      now,
      idx: 1,
      ours: false,
      ledgerChallenge: ledger.machine.params.challengeDuration,
    });
    if (!verdict.ok) return reject(`${verdict.reason} (policy: ${verdict.rule})`);
    this.opening.add(key);
    let d: Decision;
    try {
      d = await this.proposalHandler({ from, params, initial: msg.initial, fundingTimeout: 0n });
    } finally {
      this.opening.delete(key);
    }
    if (!d.accept) return reject(d.reason);
    const virtual: VirtualInfo = {
      path: [...path],
      ledgerIDs: [...msg.ledgerIDs],
      fees: msg.fees.map((f) => [...f]),
      expiry: msg.expiry,
      ledger: msg.ledgerIDs[last - 1] as Hex,
    };
    await this.inQueue(vID, async () => {
      if (this.findRecord(vID))
        throw new PerunError("VIRTUAL_ID_REUSED", `Channel id ${vID} is already in use.`);
      const rec: ChannelRecord = {
        channelID: vID,
        machine: t.machine,
        peers: [from, this.address],
        fundingDeadline: null,
        meta: { proposalID: msg.proposalID, role: "responder", virtual },
      };
      this.records.set(vID.toLowerCase(), rec);
      this.apply(rec, acceptUpdate(t.machine, this.deps.signer));
    });
    this.emit({ type: "opened", channelID: vID });
    void this.lockVirtual(vID, last - 1).catch((e) => this.logError(vID, e));
  }

  /**
   * Locks V's funds in our ledger channel with our neighbour on the path (hop 0 for V.alice, the last
   * hop for V.bob). First the intermediary gets V's context (both signatures), then our lock update.
   * Along the path the locks go out from Alice towards Bob, each intermediary proposing its right lock
   * while it holds its left neighbour's proposal unsigned; the last intermediary holds both of hers
   * (Bob proposes his) and signs both at once; the signatures then come back towards Alice, each
   * intermediary signing its left lock exactly when its right one was signed. So no intermediary ever
   * has only one of its two locks. V is funded for us once our lock is signed, however late that is.
   */
  private async lockVirtual(vID: Hex, hop: number): Promise<void> {
    const v = this.record(vID);
    const info = v.meta.virtual as VirtualInfo;
    const signed = v.machine.current as { state: State; sigs: Hex[] };
    const neighbour = info.path[hop === 0 ? 1 : hop] as Address;
    const context: WireMsg = {
      type: "virtualFunding",
      path: info.path,
      ledgerIDs: info.ledgerIDs,
      params: v.machine.params,
      initial: signed.state,
      sigs: signed.sigs,
      fees: info.fees,
      expiry: info.expiry,
    };
    const ledgerID = info.ledgerIDs[hop] as Hex;
    const hopInfo = pathLocks(info.path, signed.state, info.fees)[hop];
    if (!hopInfo) throw new PerunError("VIRTUAL_PATH", `No hop ${hop} in the path of ${vID}.`);
    const ledgerParams = this.record(ledgerID).machine.params;
    const { roles, fee } = hopLockArgs(hopInfo, ledgerParams);
    const outcome = this.proposeLock(
      ledgerID,
      vID,
      (cur) => lockInLedger(cur, ledgerParams, { id: vID, initial: signed.state }, roles, fee),
      { to: neighbour, msg: context },
      () => this.findRecord(vID)?.meta.abandoned === undefined,
    );
    const funded = outcome.then(async (refused) => {
      if (refused !== null) {
        // V is backed by nothing: it must never become usable at our end.
        await this.abandon(vID, "Funding", `our lock was refused: ${errorText(refused)}`);
        throw refused;
      }
      await this.inQueue(vID, async () => this.markFunded(vID));
    });
    // Every hop of the path may take a peer timeout to answer; past that we stop waiting, but V still
    // becomes funded if the signature comes later.
    funded.catch((e) => this.logError(vID, e));
    let timer: NodeJS.Timeout | undefined;
    const budget = this.peerTimeoutMs * (info.path.length - 1);
    try {
      await Promise.race([
        funded,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new PeerTimeoutError(`the locks of ${vID} along its path`, neighbour, budget)),
            budget,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Signs and sends `build(current)` in channel `rec` (Acting, in its queue); the waiter resolves once signed. */
  private propose(
    rec: ChannelRecord,
    build: (current: State) => State,
  ): { waiter: Promise<State>; next: State } {
    const next = build(rec.machine.current?.state as State);
    const t = proposeUpdate(rec.machine, next, this.deps.signer, this.rules(rec.machine.params));
    const waiter = this.waitFor(rec.channelID, next.version);
    this.apply(rec, t);
    return { waiter, next };
  }

  /**
   * Proposes the lock `build(current)` in `ledgerID` and waits, without a deadline, until the peer
   * signed it (true) or rejected it (false). A proposal voided by a re-sync (the peer restarted and
   * never signed) is proposed again. No deadline, because an intermediary that proposed a lock may only
   * give up its own left lock once it knows the right one will never be signed.
   */
  private async proposeLock(
    ledgerID: Hex,
    vID: Hex,
    build: (current: State) => State,
    context: { to: Address; msg: WireMsg },
    wanted: () => boolean = () => true,
  ): Promise<PerunError | null> {
    for (;;) {
      if (!wanted()) return new UpdateRejectedError(ledgerID, 0n, "we no longer want this lock");
      // V's context goes first, every time: the peer needs it to decide, and a proposal made again
      // after a reconnect must find it there too. A failed send is fine: so will the proposal's.
      await this.deps.transport.send(context.to, context.msg).catch(() => undefined);
      const done = await this.inQueue(`local:${ledgerID}` as Hex, () =>
        this.inQueue(ledgerID, async () => {
          const rec = this.record(ledgerID);
          // Signed already (learned by a re-sync, say after a restart).
          if (locksSubChannel(rec.machine.current?.state, vID) && rec.machine.phase !== "Signing")
            return "locked" as const;
          // Busy with a payment or a peer's proposal being decided: try again shortly.
          if (rec.machine.phase === "Signing" || this.heldLocks.has(ledgerID.toLowerCase())) return null;
          if (rec.machine.phase !== "Acting") throw new ChannelBusyError(ledgerID, rec.machine.phase);
          return this.propose(rec, build);
        }),
      );
      if (done === "locked") return null;
      if (done === null) {
        await sleep(this.pollMs);
        continue;
      }
      let waiter = done.waiter;
      for (;;) {
        try {
          await waiter;
          return null;
        } catch (err) {
          if (err instanceof UpdateRejectedError) return err;
          if (err instanceof ProposalDroppedError) {
            if (["Acting", "Signing"].includes(this.record(ledgerID).machine.phase)) break;
            // The channel went to the chain while our lock was out: the peer may still enforce it
            // there. Whether it is ours is whatever the chain concludes.
            return this.lockOutcomeOnChain(ledgerID, done.next);
          }
          // Sending failed: the proposal may or may not have left. It stays pending until the peer
          // signs it or a re-sync voids it; keep waiting for whichever comes.
          const m = this.record(ledgerID).machine;
          const v = done.next.version;
          if (m.current && m.current.state.version >= v) {
            return hashState(m.current.state) === hashState(done.next)
              ? null
              : new UpdateRejectedError(ledgerID, v, "a re-sync replaced our lock");
          }
          if (m.pending?.proposer !== m.idx || m.pending.state.version !== v) break;
          waiter = this.waitFor(ledgerID, v);
        }
      }
    }
  }

  /** Waits until ledger channel `ledgerID` is concluded on chain; null if with our lock `lock`. */
  private async lockOutcomeOnChain(ledgerID: Hex, lock: State): Promise<PerunError | null> {
    for (;;) {
      const d = await this.deps.chain.dispute(ledgerID).catch(() => undefined);
      if (d && d.phase === DisputePhase.CONCLUDED) {
        return d.stateHash === hashState(lock)
          ? null
          : new UpdateRejectedError(
              ledgerID,
              lock.version,
              "the ledger channel was concluded without the lock",
            );
      }
      if (this.closed) throw new PerunError("CLIENT_CLOSED", "The client was closed.");
      await sleep(this.pollMs);
    }
  }

  /**
   * Intermediary: V's context (path, ledger channels, fees, expiry, initial state with both signatures)
   * from a neighbour on V's path, checked and kept for the locks. A context never replaces another one
   * of the same V: a reused id is refused.
   */
  private async handleVirtualFunding(from: Address, msg: VirtualFundingMsg): Promise<void> {
    if (!this.deps.options?.intermediary)
      throw new PerunError("NOT_AN_INTERMEDIARY", "We do not offer virtual channels.");
    const me = this.pathIndex(msg.path);
    if (me < 1 || me > msg.path.length - 2) {
      throw new PerunError("VIRTUAL_PATH", "We are not an intermediary of this path.");
    }
    enforce(checkPathSender(msg.path, this.address, from));
    if (msg.ledgerIDs.length !== msg.path.length - 1) {
      throw new PerunError("VIRTUAL_PATH", "The path needs one ledger channel per hop.");
    }
    // Only a peer we already share the path's ledger channel with can make us keep a context: anyone
    // else could fill our store with made-up virtual channels.
    const hopWithSender = sameAddress(msg.path[me - 1], from) ? me - 1 : me;
    const shared = this.findRecord(msg.ledgerIDs[hopWithSender] as Hex);
    if (!shared?.machine.params.ledgerChannel || !sameAddress(this.peerOf(shared), from)) {
      throw new PerunError(
        "VIRTUAL_PATH",
        "The path's ledger channel between us and the sender is not ours.",
      );
    }
    const id = channelId(msg.params);
    if (id !== msg.initial.channelID)
      throw new PerunError("VIRTUAL_PARAMS", "Params do not match the state.");
    assertVirtualParams(msg.params);
    assertVirtualState(msg.initial, "virtualFunding.initial");
    // V's ends are the path's ends: the signatures below then come from the parties the path serves.
    const [va, vb] = msg.params.participants;
    if (
      !sameAddress(va?.ethAddress, msg.path[0]) ||
      !sameAddress(vb?.ethAddress, msg.path[msg.path.length - 1])
    ) {
      throw new PerunError("VIRTUAL_PATH", "The virtual channel's participants are not the path's ends.");
    }
    requireAllSigned(msg.params, msg.initial, msg.sigs);
    pathLocks(msg.path, msg.initial, msg.fees); // throws on a malformed path or fees
    // No await before the context is kept: the lock update right behind it on the same connection
    // must find it. Expiry is checked when the lock is decided.
    const known = this.virtualContexts.get(id.toLowerCase());
    if (known) {
      if (encodeJson(contextKey(known)) !== encodeJson(contextKey(msg))) {
        throw new PerunError(
          "VIRTUAL_ID_REUSED",
          `We already intermediate virtual channel ${id} on other terms.`,
          {
            hint: "A virtual channel's id (its params, with a fresh nonce) must be new.",
          },
        );
      }
      return;
    }
    // Contexts whose lock nobody proposed yet cost us storage only: a bounded number of them.
    const unlocked =
      this.virtualContexts.size < MAX_PENDING_CONTEXTS
        ? 0
        : [...this.virtualContexts.values()].filter((c) => !this.locksAnywhere(c.initial.channelID)).length;
    if (unlocked >= MAX_PENDING_CONTEXTS) {
      throw new PerunError("VIRTUAL_BUSY", `We hold ${unlocked} virtual channels that are not locked yet.`, {
        hint: "Try again once pending virtual channels are locked or have expired.",
      });
    }
    this.virtualContexts.set(id.toLowerCase(), msg);
    this.saveIntermediaryState();
  }

  /** Whether any ledger channel of ours locks (or has a held or pending lock of) virtual channel `vID`. */
  private locksAnywhere(vID: Hex): boolean {
    for (const r of this.records.values()) {
      const m = r.machine;
      if (locksSubChannel(m.current?.state, vID) || locksSubChannel(m.pending?.state, vID)) return true;
    }
    return false;
  }

  /**
   * V's final state (both signatures): it lets us accept the unlock of V in any ledger channel. An
   * intermediary passes it on along the path (each one only once) and, unless it is the last one,
   * proposes the unlock in its ledger channel towards Bob; the ends unlock their own hops.
   */
  private async handleVirtualFinal(from: Address, msg: VirtualFinalMsg): Promise<void> {
    const id = channelId(msg.params);
    if (id !== msg.state.channelID || !msg.state.isFinal) {
      throw new PerunError("VIRTUAL_FINAL", "Not a final state of the given virtual channel.");
    }
    const key = id.toLowerCase();
    // Stored only for a virtual channel we intermediate or hold, and only from our neighbour on its
    // path: a final state of anything else is none of our business (and would fill our store).
    const ctx = this.virtualContexts.get(key);
    const own = this.findRecord(id)?.meta.virtual as VirtualInfo | undefined;
    const path = ctx?.path ?? own?.path;
    if (!path) throw new PerunError("VIRTUAL_FINAL", `We have no part in virtual channel ${id}.`);
    enforce(checkPathSender(path, this.address, from));
    assertVirtualState(msg.state, "virtualFinal.state");
    requireAllSigned(msg.params, msg.state, msg.sigs);
    const isNew = !this.virtualFinals.has(key);
    if (!isNew) return;
    this.virtualFinals.set(key, msg);
    this.saveIntermediaryState();
    if (!ctx) return;
    const me = this.pathIndex(ctx.path);
    if (me < 1 || me > ctx.path.length - 2) return;
    // Pass it on first: on each connection it then arrives before our unlock proposal.
    for (const n of [ctx.path[me - 1], ctx.path[me + 1]] as Address[]) {
      if (!sameAddress(n, from)) await this.deps.transport.send(n, msg).catch(() => undefined);
    }
    if (me < ctx.path.length - 2) {
      const right = ctx.ledgerIDs[me] as Hex;
      void this.unlockHop(right, msg.state).catch((e) => this.logError(right, e));
    }
  }

  /** Unlocks V with its final state in ledger channel `ledgerID`, unless it is no longer locked there. */
  private async unlockHop(ledgerID: Hex, vFinal: State): Promise<void> {
    if (!locksSubChannel(this.record(ledgerID).machine.current?.state, vFinal.channelID)) return;
    const ledgerParams = this.record(ledgerID).machine.params;
    await this.update(ledgerID, (s) => unlockFromLedger(s, ledgerParams, vFinal));
  }

  /**
   * Ledger channel `ledgerID` went on chain while we hold a lock proposal in it and our own lock towards
   * Bob is out: we take that channel to the chain too, so its peer must sign our lock there (refute with
   * it) or lose it within its challenge duration, which ends before this one's (see
   * `challengeMarginSeconds`). Then we know, in time, whether to enforce the held lock.
   */
  private forceRightDecision(ledgerID: Hex): void {
    const held = this.heldLocks.get(ledgerID.toLowerCase());
    const cur = this.findRecord(ledgerID)?.machine.current?.state;
    if (!held || !cur) return;
    const sub = held.state.outcome.locked.find((l) => !locksSubChannel(cur, l.ID));
    const ctx = sub && this.virtualContexts.get(sub.ID.toLowerCase());
    if (!ctx) return;
    const me = this.pathIndex(ctx.path);
    if (me < 1 || me >= ctx.path.length - 2) return; // the last intermediary holds both: nothing is out
    const rightID = ctx.ledgerIDs[me] as Hex;
    const right = this.findRecord(rightID);
    if (!right || locksSubChannel(right.machine.current?.state, ctx.initial.channelID)) return;
    if (!["Acting", "Signing"].includes(right.machine.phase)) return;
    this.log(
      "warn",
      "ledger channel disputed while we hold its lock: taking our lock towards Bob to the chain",
      {
        left: ledgerID,
        right: rightID,
      },
    );
    void this.dispute(rightID).catch((e) => this.logError(rightID, e));
  }

  /**
   * Disputes ledger channel `rec`, which locks virtual channel `vID` now on chain. Both members see V in
   * the same block: participant 0 registers at once, participant 1 only if nothing is on chain after a
   * back-off (one registration is enough; a second would cost ~79k gas for nothing).
   */
  private followToChain(rec: ChannelRecord, vID: Hex): void {
    const id = rec.channelID;
    const key = `follow:${id.toLowerCase()}`;
    if (this.busyChain.has(key)) return;
    this.busyChain.add(key);
    const go = async () => {
      if (rec.machine.idx !== 0) await sleep(this.chainBackoffMs);
      const d = await this.deps.chain.dispute(id);
      if (d && d.phase !== DisputePhase.CONCLUDED) return; // on chain already: the watcher takes it from there
      if (!["Acting", "Signing", "Final"].includes(this.record(id).machine.phase)) return;
      this.log("info", "virtual channel on chain: disputing our ledger channel that locks it", {
        virtual: vID,
        ledger: id,
      });
      await this.dispute(id);
    };
    void go()
      .catch((e) => this.logError(id, e))
      .finally(() => this.busyChain.delete(key));
  }

  /** The signatures of a held lock proposal once we sign it too: the peer's (kept) and ours. */
  private completeHeld(held: HeldLock, ourIdx: number): Hex[] {
    const sigs: Hex[] = [];
    sigs[held.from] = held.sig;
    sigs[ourIdx] = signState(held.state, this.deps.signer);
    return sigs;
  }

  /** Our position on a virtual channel's path (0 = Alice, the last = Bob), -1 if we are not on it. */
  private pathIndex(path: readonly Address[]): number {
    return path.findIndex((a) => sameAddress(a, this.address));
  }

  /**
   * Signs or rejects a peer's lock proposal we held. If a re-sync voided it meanwhile (the peer
   * restarted) and we accept, we complete it with the signature we kept and hand it over by a sync:
   * the other lock of ours is signed already, so this one must be too.
   */
  private answerHeld(id: Hex, proposal: State, d: Decision): Promise<void> {
    return this.inQueue(id, async () => {
      const held = this.heldLocks.get(id.toLowerCase());
      if (!held || hashState(held.state) !== hashState(proposal)) return;
      this.heldLocks.delete(id.toLowerCase());
      this.saveIntermediaryState();
      const r = this.record(id);
      const p = r.machine.pending;
      if (
        r.machine.phase === "Signing" &&
        p &&
        p.proposer !== r.machine.idx &&
        hashState(p.state) === hashState(proposal)
      ) {
        this.apply(
          r,
          d.accept ? acceptUpdate(r.machine, this.deps.signer) : rejectUpdate(r.machine, d.reason),
        );
        return;
      }
      const dispute = r.machine.dispute;
      if (d.accept && r.machine.phase === "Registered" && dispute && dispute.version < proposal.version) {
        // Our left neighbour took the ledger channel to the chain while we held its lock: the lock is
        // ours to enforce now that our other lock is signed. Refute with it, completed.
        const sigs = this.completeHeld(held, r.machine.idx);
        this.log("warn", "ledger channel disputed while we held its lock: refuting with the lock", {
          channelID: id,
          registered: `${dispute.version}`,
          ours: `${proposal.version}`,
        });
        this.persist({ ...r, machine: { ...r.machine, current: { state: proposal, sigs }, pending: null } });
        await this.registerOnChain(this.record(id));
        return;
      }
      if (
        !d.accept ||
        r.machine.phase !== "Acting" ||
        r.machine.current?.state.version !== proposal.version - 1n
      )
        return;
      const sigs = this.completeHeld(held, r.machine.idx);
      this.log("info", "completing a lock proposal voided by a re-sync", {
        channelID: id,
        version: `${proposal.version}`,
      });
      this.apply(r, receiveSync(r.machine, proposal, sigs, held.from));
      await this.sendSync(this.record(id), this.peerOf(r));
    });
  }

  /**
   * A ledger update that adds or removes a locked sub-allocation. An unlock is signed only with V's
   * final state signed by both ends. A lock only by an intermediary of V's path, and only so that she
   * never holds one of her two locks without the other: the last intermediary of the path holds both
   * proposals (from her left neighbour and from Bob) and signs both or neither; any other proposes her
   * lock towards Bob while holding the one from her left, and signs that exactly when hers was signed.
   * Either way her net is her fee whatever V's outcome (`intermediaryLocksMatch`), and it covers her terms.
   */
  private async decideVirtualLedgerUpdate(
    rec: ChannelRecord,
    current: State,
    next: State,
  ): Promise<Decision> {
    // Whatever goes wrong while deciding, the held proposal gets an answer: an exception here would
    // leave it held (and both ledger channels busy) forever, and replayed after every restart.
    try {
      return await this.decideLockOrUnlock(rec, current, next);
    } catch (err) {
      return { accept: false, reason: errorText(err) };
    }
  }

  private async decideLockOrUnlock(rec: ChannelRecord, current: State, next: State): Promise<Decision> {
    // A lock changed in place counts as removed and added: refused like two changes at once.
    const { added, removed } = diffLocked(current.outcome.locked, next.outcome.locked);
    if (added.length + removed.length !== 1) {
      return { accept: false, reason: "one lock or unlock at a time; an existing lock never changes" };
    }
    const params = rec.machine.params;
    if (removed.length === 1) {
      const vID = (removed[0] as { ID: Hex }).ID;
      const fin = this.virtualFinals.get(vID.toLowerCase()) ?? this.ownFinal(vID);
      if (!fin) return { accept: false, reason: "no final state of the virtual channel known" };
      try {
        checkUnlock(current, next, params, fin.state);
      } catch (err) {
        return { accept: false, reason: errorText(err) };
      }
      return { accept: true };
    }
    const terms = this.deps.options?.intermediary?.terms;
    const vID = (added[0] as { ID: Hex }).ID;
    const ctx = this.virtualContexts.get(vID.toLowerCase());
    if (!terms || !ctx) return { accept: false, reason: "no virtual channel context for this lock" };
    const pos = lockPosition(ctx.path, ctx.ledgerIDs, this.address, rec.channelID, this.peerOf(rec));
    if (!pos.ok) return { accept: false, reason: pos.reason };
    const { me, hop } = pos;
    const ourFee = ctx.fees[me - 1] as bigint[];
    const leftID = ctx.ledgerIDs[me - 1] as Hex;
    const rightID = ctx.ledgerIDs[me] as Hex;
    const left = this.findRecord(leftID);
    const right = this.findRecord(rightID);
    for (const [l, peerAt] of [
      [left, me - 1],
      [right, me + 1],
    ] as const) {
      if (!l?.machine.params.ledgerChannel || !sameAddress(this.peerOf(l), ctx.path[peerAt])) {
        return { accept: false, reason: "we have no ledger channel with each neighbour on the path" };
      }
    }
    const now = await this.deps.chain.now();
    const policyVerdict = checkIntermediaryLock(this.deps.policy, {
      vParams: ctx.params,
      vInitial: ctx.initial,
      expiry: ctx.expiry,
      now,
      terms,
      fee: ourFee,
      leftChallenge: (left as ChannelRecord).machine.params.challengeDuration,
      rightChallenge: (right as ChannelRecord).machine.params.challengeDuration,
      last: pos.last,
    });
    if (!policyVerdict.ok) return asDecision(policyVerdict);
    // What the path pays us was checked above; the locks must also net us exactly that (below).
    const feeOk = (fee: readonly bigint[]): Decision =>
      (fee[0] ?? 0n) < (ourFee[0] ?? 0n)
        ? { accept: false, reason: `fee ${fee[0]} below the agreed ${ourFee[0]}` }
        : { accept: true };
    if (!pos.last) {
      if (hop !== me - 1) return { accept: false, reason: "the lock towards Bob is ours to propose" };
      return this.forwardLock(rec, current, next, ctx, me, feeOk);
    }
    const otherID = ctx.ledgerIDs[hop === me ? me - 1 : me] as Hex;
    if (locksSubChannel(this.findRecord(otherID)?.machine.current?.state, vID)) {
      // Our other lock is signed already (a restart came between the two): this one must be exactly the
      // lock the path agreed on.
      try {
        const h = pathLocks(ctx.path, ctx.initial, ctx.fees)[hop] as PathHop;
        checkLock(current, next, params, { v: { id: vID, initial: ctx.initial }, ...hopLockArgs(h, params) });
      } catch (err) {
        return { accept: false, reason: errorText(err) };
      }
      return feeOk(ourFee);
    }
    // The last intermediary: the first lock waits for its twin; the second decides both.
    return new Promise<Decision>((resolve) => {
      const key = vID.toLowerCase();
      const waiting = this.pendingLocks.get(key) ?? new Map();
      waiting.get(hop)?.decide({ accept: false, reason: "replaced by a newer proposal of the same lock" });
      waiting.set(hop, { prev: current, next, params, decide: resolve });
      this.pendingLocks.set(key, waiting);
      const left = waiting.get(me - 1);
      const right = waiting.get(me);
      if (!left || !right) {
        setTimeout(() => {
          if (this.pendingLocks.get(key)?.get(hop)?.decide === resolve) {
            this.pendingLocks.get(key)?.delete(hop);
            resolve({ accept: false, reason: "the matching lock in the other ledger channel never came" });
          }
        }, this.peerTimeoutMs).unref();
        return;
      }
      this.pendingLocks.delete(key);
      const verdict = intermediaryLocksMatch(left, right, ctx.initial, this.address, ourFee);
      const decision: Decision = verdict.valid
        ? feeOk(verdict.fee)
        : { accept: false, reason: verdict.reason };
      left.decide(decision);
      right.decide(decision);
    });
  }

  /**
   * An intermediary that is not the last of V's path got the lock from its left neighbour: it checks
   * that this lock and its own towards Bob net it its fee, proposes its own (the context first, so the
   * next intermediary can check it), and signs the left lock exactly when the right one was signed. A
   * right lock already signed (we restarted and our left neighbour proposed again) is enough.
   */
  private async forwardLock(
    rec: ChannelRecord,
    current: State,
    next: State,
    ctx: VirtualFundingMsg,
    me: number,
    feeOk: (fee: readonly bigint[]) => Decision,
  ): Promise<Decision> {
    const vID = ctx.initial.channelID;
    const rightID = ctx.ledgerIDs[me] as Hex;
    const right = this.findRecord(rightID);
    if (!right?.machine.params.ledgerChannel || !sameAddress(this.peerOf(right), ctx.path[me + 1])) {
      return { accept: false, reason: "we have no ledger channel with the next member of the path" };
    }
    const hopInfo = pathLocks(ctx.path, ctx.initial, ctx.fees)[me] as PathHop;
    const { roles, fee } = hopLockArgs(hopInfo, right.machine.params);
    const lock = (cur: State) =>
      lockInLedger(cur, right.machine.params, { id: vID, initial: ctx.initial }, roles, fee);
    const rightCur = right.machine.current?.state as State;
    try {
      if (locksSubChannel(rightCur, vID)) {
        // Our lock towards Bob is signed already (we restarted, and the left neighbour proposed again):
        // the left one must be exactly the lock the path agreed on.
        const leftHop = pathLocks(ctx.path, ctx.initial, ctx.fees)[me - 1] as PathHop;
        checkLock(current, next, rec.machine.params, {
          v: { id: vID, initial: ctx.initial },
          ...hopLockArgs(leftHop, rec.machine.params),
        });
        return feeOk(ctx.fees[me - 1] as bigint[]);
      }
      const verdict = intermediaryLocksMatch(
        { prev: current, next, params: rec.machine.params },
        { prev: rightCur, next: lock(rightCur), params: right.machine.params },
        ctx.initial,
        this.address,
        ctx.fees[me - 1],
      );
      if (!verdict.valid) return { accept: false, reason: verdict.reason };
      const ok = feeOk(verdict.fee);
      if (!ok.accept) return ok;
    } catch (err) {
      return { accept: false, reason: errorText(err) };
    }
    this.log("info", "holding the lock from the left while proposing ours towards Bob", {
      virtual: vID,
      left: rec.channelID,
      right: rightID,
    });
    let refused: PerunError | null;
    try {
      refused = await this.proposeLock(rightID, vID, lock, {
        to: ctx.path[me + 1] as Address,
        msg: { ...ctx, type: "virtualFunding" },
      });
    } catch (err) {
      // Thrown only before our lock was signed: nothing of ours is out, declining is safe.
      return { accept: false, reason: `cannot lock in the next hop: ${errorText(err)}` };
    }
    if (refused === null) return { accept: true };
    if (this.record(rightID).machine.phase === "Acting") {
      // A rejection is not signed: the next hop still holds our signature on the lock and could sign it
      // later. Two empty updates on top make any state of the lock's version stale for good; only then
      // do we let go of the left lock. Without them we keep holding it (safe, if stuck).
      try {
        for (let i = 0; i < 2; i++) await this.update(rightID, (st) => ({ ...st, version: st.version + 1n }));
      } catch (err) {
        this.log("warn", "cannot make the next hop's rejection binding: holding the left lock", {
          virtual: vID,
          ledger: rightID,
          error: errorText(err),
        });
        return new Promise<Decision>(() => {});
      }
    }
    return { accept: false, reason: `the next hop did not lock: ${errorText(refused)}` };
  }

  /** Every fully signed state we know of channel `id`: ours, learned on chain, or handed to us as intermediary. */
  private knownSubStates(id: Hex): SignedSub[] {
    const key = id.toLowerCase();
    const out: SignedSub[] = [...(this.chainStates.get(key) ?? [])];
    const cur = this.findRecord(id)?.machine;
    if (cur?.current?.sigs.every((x) => x !== null)) {
      out.push({ params: cur.params, state: cur.current.state, sigs: cur.current.sigs as Hex[] });
    }
    const fin = this.virtualFinals.get(key);
    if (fin) out.push({ params: fin.params, state: fin.state, sigs: fin.sigs });
    const ctx = this.virtualContexts.get(key);
    if (ctx) out.push({ params: ctx.params, state: ctx.initial, sigs: ctx.sigs });
    return out.sort((a, b) =>
      a.state.version > b.state.version ? -1 : a.state.version < b.state.version ? 1 : 0,
    );
  }

  /**
   * The sub-channel state to register with its parent: our newest, unless the chain already holds a
   * state of it that can no longer be refuted (then exactly that one, or the registration would fail).
   */
  private async subStateToRegister(id: Hex): Promise<SignedSub | undefined> {
    const known = this.knownSubStates(id);
    const onChain = await this.deps.chain.dispute(id);
    if (!onChain) return known[0];
    const same = known.find((k) => hashState(k.state) === onChain.stateHash);
    const newest = known[0];
    const refutable =
      onChain.phase === DisputePhase.DISPUTE && (await this.deps.chain.now()) < onChain.timeout;
    if (newest && refutable && newest.state.version > onChain.version) return newest;
    return same;
  }

  /** Remembers the signed states a registration put on chain, for channels we hold or intermediate. */
  private async learnRegistered(txHash: Hex): Promise<void> {
    let states: SignedSub[];
    try {
      states = await this.deps.chain.registeredStates(txHash);
    } catch (err) {
      this.log("warn", "cannot read a registration's calldata", { txHash, error: errorText(err) });
      return;
    }
    for (const st of states) {
      const key = st.state.channelID.toLowerCase();
      if (!this.records.has(key) && !this.virtualContexts.has(key)) continue;
      const list = this.chainStates.get(key) ?? [];
      if (!list.some((x) => hashState(x.state) === hashState(st.state))) list.push(st);
      this.chainStates.set(key, list);
    }
  }

  /**
   * A virtual channel one of our ledger channels locks went on chain: dispute every ledger channel of
   * ours that still locks it, so V is settled there too with its on-chain outcome (an intermediary's net
   * stays the fee; an end gets its share out).
   */
  private async defendIntermediated(vID: Hex): Promise<void> {
    for (const rec of [...this.records.values()]) {
      const cur = rec.machine.current?.state;
      if (!rec.machine.params.ledgerChannel || !locksSubChannel(cur, vID)) {
        continue;
      }
      if (["Acting", "Signing", "Final"].includes(rec.machine.phase)) {
        this.followToChain(rec, vID);
      }
    }
    // A stale state of V on chain (say, the ends collude: one unlocked with the final state, the other
    // registers an old one) is refuted with the newest we know, through any ledger channel of ours that
    // still locks V: otherwise the two ledgers would settle V differently and we would pay the gap.
    const onChain = await this.deps.chain.dispute(vID);
    const newest = this.knownSubStates(vID)[0];
    if (
      onChain &&
      newest &&
      onChain.phase === DisputePhase.DISPUTE &&
      newest.state.version > onChain.version &&
      (await this.deps.chain.now()) < onChain.timeout
    ) {
      const parent = [...this.records.values()].find(
        (r) => r.machine.params.ledgerChannel && locksSubChannel(r.machine.current?.state, vID),
      );
      if (parent) {
        this.log("warn", "stale virtual channel state on chain: refuting", {
          virtual: vID,
          registered: `${onChain.version}`,
          ours: `${newest.state.version}`,
        });
        this.emit({ type: "refuted", channelID: vID, stale: onChain.version, ours: newest.state.version });
        await this.registerOnChain(parent);
      }
    }
  }

  /**
   * The virtual channels we intermediate (their signed contexts and final states) are kept in the
   * store: after a restart we must still be able to register them with our ledger channels.
   */
  private saveIntermediaryState(): void {
    this.deps.store.setMeta(
      INTERMEDIARY_KEY,
      encodeJson({
        contexts: [...this.virtualContexts.values()],
        finals: [...this.virtualFinals.values()],
        held: [...this.heldLocks.values()],
      }),
    );
  }

  private loadIntermediaryState(): void {
    const text = this.deps.store.getMeta(INTERMEDIARY_KEY);
    if (text === undefined) return;
    const saved = decodeJson(text) as {
      contexts: VirtualFundingMsg[];
      finals: VirtualFinalMsg[];
      held?: HeldLock[];
    };
    for (const h of saved.held ?? []) this.heldLocks.set(h.ledgerID.toLowerCase(), h);
    for (const c of saved.contexts) this.virtualContexts.set(c.initial.channelID.toLowerCase(), c);
    for (const f of saved.finals) this.virtualFinals.set(f.state.channelID.toLowerCase(), f);
  }

  private ownFinal(vID: Hex): { state: State } | undefined {
    const cur = this.findRecord(vID)?.machine.current;
    return cur?.state.isFinal ? { state: cur.state } : undefined;
  }

  /**
   * Optimistic close of V: V's final state (signed by both ends) unlocks V's funds in our ledger channel
   * with the intermediary. The other end does the same in its ledger channel.
   */
  async settleVirtual(vID: Hex): Promise<void> {
    const rec = this.record(vID);
    if (rec.machine.phase === "Acting") {
      const fin = await this.inQueue(vID, async () => {
        const r = this.record(vID);
        const t = proposeFinal(r.machine, this.deps.signer);
        const waiter = this.waitFor(vID, (r.machine.current?.state.version as bigint) + 1n);
        this.apply(r, t);
        return { waiter };
      });
      await this.withTimeout(fin.waiter, `the final state of ${vID}`, this.peerOf(rec));
    }
    await this.unlockVirtual(vID);
  }

  private async unlockVirtual(vID: Hex): Promise<void> {
    const v = this.record(vID);
    if (v.meta.unlocked === true) return;
    const cur = v.machine.current as { state: State; sigs: Hex[] };
    if (!cur.state.isFinal) throw new ChannelBusyError(vID, v.machine.phase);
    const info = v.meta.virtual as VirtualInfo;
    const neighbour = info.path[v.machine.idx === 0 ? 1 : info.path.length - 2] as Address;
    await this.deps.transport.send(neighbour, {
      type: "virtualFinal",
      params: v.machine.params,
      state: cur.state,
      sigs: cur.sigs,
    });
    await this.unlockHop(info.ledger, cur.state);
    this.persist({ ...this.record(vID), meta: { ...this.record(vID).meta, unlocked: true } });
    this.emit({
      type: "withdrawn",
      channelID: vID,
      amounts: cur.state.outcome.balances.map((r) => r[v.machine.idx] ?? 0n),
    });
  }

  // ---------------------------------------------------------------- funding

  /**
   * Deposits our share (if not yet on chain) and waits for every deposit, or recovers ours. One run per
   * channel: whoever asks again (the proposal answer, a sync, a restart) joins the running one, so no
   * two runs can read "nothing deposited yet" and both deposit.
   */
  private fundAndWait(channelID: Hex): Promise<void> {
    const key = channelID.toLowerCase();
    const running = this.fundingRuns.get(key);
    if (running) return running;
    const run = this.fund(channelID).finally(() => this.fundingRuns.delete(key));
    this.fundingRuns.set(key, run);
    return run;
  }

  private async fund(channelID: Hex): Promise<void> {
    const rec0 = this.record(channelID);
    // A virtual channel is funded by locks in ledger channels, never by deposits of its own.
    if (rec0.machine.phase !== "Funding" || !rec0.machine.params.ledgerChannel) return;
    const deadline = await this.inQueue(channelID, async () => {
      const r = this.record(channelID);
      if (r.fundingDeadline !== null) return r.fundingDeadline;
      const d = (await this.deps.chain.now()) + BigInt(String(r.meta.fundingTimeout ?? 600));
      this.persist({ ...r, fundingDeadline: d });
      return d;
    });
    const rec = this.record(channelID);
    const deposits = this.deposits(rec);
    const me = rec.machine.idx;
    const fid = fundingId(channelID, this.address);
    for (const [a, asset] of this.assetsOf(rec).entries()) {
      const want = deposits[a]?.[me] ?? 0n;
      const have = await this.deps.chain.holdings(asset, fid);
      if (have >= want) continue;
      const sent = (this.record(channelID).meta.depositSent as boolean[] | undefined) ?? [];
      if (sent[a]) {
        // A deposit of ours went out before a restart and is not (yet) on chain: sending another could
        // pay twice, and an excess deposit is lost on conclusion. Wait for it, or recover at the deadline.
        this.log("warn", "a deposit of ours may still be pending; not depositing again", {
          channelID,
          asset: a,
        });
        continue;
      }
      await this.inQueue(channelID, async () => {
        const r = this.record(channelID);
        const marks = [...((r.meta.depositSent as boolean[] | undefined) ?? [])];
        marks[a] = true;
        this.persist({ ...r, meta: { ...r.meta, depositSent: marks } });
      });
      await this.deps.chain.deposit(asset, fid, want - have);
    }
    for (;;) {
      if (this.closed) return;
      if (this.record(channelID).machine.phase !== "Funding") return; // funded meanwhile (a peer's update)
      if (await this.allDeposited(channelID)) {
        await this.inQueue(channelID, async () => this.markFunded(channelID));
        return;
      }
      if ((await this.deps.chain.now()) >= deadline) break;
      await sleep(this.pollMs);
    }
    if (this.record(channelID).machine.phase !== "Funding") return;
    // Fund recovery: the signed version 0 goes on chain; underfunded, the asset
    // holders refund every deposit, ours included.
    this.emit({ type: "fundingTimeout", channelID });
    this.log("warn", "funding timed out; recovering our deposit", { channelID });
    const closedP = this.waitClosed(channelID);
    await this.dispute(channelID);
    await closedP;
    throw new FundingTimeoutError(channelID, true);
  }

  /** What each participant deposits per asset: the initial state's balances (later states move them). */
  private deposits(rec: ChannelRecord): readonly (readonly bigint[])[] {
    const saved = rec.meta.deposits as bigint[][] | undefined;
    return saved ?? rec.machine.current?.state.outcome.balances ?? [];
  }

  private assetsOf(rec: ChannelRecord): readonly Asset[] {
    return rec.machine.current?.state.outcome.assets ?? [];
  }

  /** Whether every participant's deposit of every asset of version 0 is on chain. */
  private async allDeposited(channelID: Hex): Promise<boolean> {
    const rec = this.record(channelID);
    if (!rec.machine.current) return false;
    const deposits = this.deposits(rec);
    for (const [a, asset] of this.assetsOf(rec).entries()) {
      for (const [p, part] of rec.machine.params.participants.entries()) {
        const want = deposits[a]?.[p] ?? 0n;
        if (
          want > 0n &&
          (await this.deps.chain.holdings(asset, fundingId(channelID, part.ethAddress))) < want
        ) {
          return false;
        }
      }
    }
    return true;
  }

  /** Funding -> Acting (call inside the channel queue). */
  private markFunded(channelID: Hex): void {
    const r = this.record(channelID);
    if (r.machine.phase !== "Funding") return;
    this.apply({ ...r, fundingDeadline: null }, funded(r.machine));
    this.emit({ type: "funded", channelID });
  }

  // ------------------------------------------------------------------ chain

  private async registerOnChain(rec0: ChannelRecord): Promise<void> {
    // A virtual channel is registered as a sub-channel of our ledger channel with the intermediary.
    const rec = rec0.machine.params.virtualChannel
      ? this.findRecord((rec0.meta.virtual as { ledger: Hex }).ledger)
      : rec0;
    const cur = rec?.machine.current;
    if (!rec || !cur) return;
    // A virtual channel already unlocked from our ledger channel is none of that channel's business.
    if (rec0.machine.params.virtualChannel && !locksSubChannel(cur.state, rec0.channelID)) return;
    const key = `register:${rec.channelID.toLowerCase()}`;
    if (this.busyChain.has(key)) return;
    this.busyChain.add(key);
    try {
      const subs: SignedSub[] = [];
      for (const sa of cur.state.outcome.locked) {
        const sub = await this.subStateToRegister(sa.ID);
        if (!sub)
          throw new PerunError("UNKNOWN_SUBCHANNEL", `No signed state of sub-channel ${sa.ID} is known.`);
        subs.push(sub);
      }
      // Several paths lead here for one event (our dispute, a refutation of V, V's own record): send
      // only what changes something on chain (~79k gas per registration that would not).
      const onChain = await this.deps.chain.dispute(rec.channelID);
      if (onChain && (onChain.phase === DisputePhase.CONCLUDED || onChain.version >= cur.state.version)) {
        let staleSub = false;
        for (const sub of subs) {
          const sd = await this.deps.chain.dispute(sub.state.channelID);
          if (sd && sd.phase === DisputePhase.DISPUTE && sd.version < sub.state.version) staleSub = true;
        }
        if (onChain.phase === DisputePhase.CONCLUDED || !staleSub) return;
      }
      await this.deps.chain.register(
        { params: rec.machine.params, state: cur.state, sigs: cur.sigs as Hex[] },
        subs,
      );
    } catch (err) {
      // Someone registered the same or a newer state first, or the dispute moved on: the watcher's
      // events tell us what is on chain.
      this.log("warn", "register failed", { channelID: rec.channelID, error: errorText(err) });
    } finally {
      this.busyChain.delete(key);
    }
  }

  /**
   * A channel still Registering: our registration or refutation has not shown up on chain. If the
   * chain holds a registration whose refutation window has passed, it stands (we move on to conclude
   * it); if the chain holds nothing, ours failed and is sent again.
   */
  private async retryRegistration(rec: ChannelRecord, now: bigint): Promise<void> {
    const id = rec.channelID;
    const key = `register:${id.toLowerCase()}`;
    if (this.busyChain.has(key) || Date.now() < (this.retryAfter.get(key) ?? 0)) return;
    this.retryAfter.set(key, Date.now() + this.chainBackoffMs);
    const d = await this.deps.chain.dispute(id).catch(() => undefined);
    if (!d) {
      await this.registerOnChain(rec);
      return;
    }
    if (d.phase === DisputePhase.DISPUTE && now >= d.timeout) {
      await this.inQueue(id, async () => {
        const r = this.record(id);
        if (r.machine.phase !== "Registering") return;
        this.log("warn", "our refutation did not land in time: the registered state stands", {
          channelID: id,
          registered: `${d.version}`,
        });
        this.apply(r, registrationStands(r.machine, d.version, d.timeout));
      });
    }
  }

  private async concludeOnChain(rec: ChannelRecord): Promise<void> {
    const key = `conclude:${rec.channelID}`;
    if (this.busyChain.has(key)) return;
    // Both members conclude once the timeout passed: participant 1 gives participant 0 a head start,
    // so that usually one transaction goes out, not two of which one reverts.
    if (rec.machine.idx !== 0) {
      const seen = this.concludeDueAt.get(key);
      if (seen === undefined) {
        this.concludeDueAt.set(key, Date.now());
        return;
      }
      if (Date.now() - seen < this.chainBackoffMs) return;
    }
    this.busyChain.add(key);
    try {
      const d = await this.deps.chain.dispute(rec.channelID);
      if (!d || d.phase === DisputePhase.CONCLUDED) return;
      const m = rec.machine;
      const candidates = [
        m.dispute?.state,
        m.current?.state,
        m.pending?.state,
        // A registration that stood against our refutation: its state is known from its calldata.
        ...(this.chainStates.get(rec.channelID.toLowerCase()) ?? []).map((c) => c.state),
      ].filter((s): s is State => !!s);
      const state = candidates.find((s) => s.version === d.version);
      if (!state) {
        this.log("error", "cannot conclude: the registered state is unknown to us", {
          channelID: rec.channelID,
          version: `${d.version}`,
        });
        return;
      }
      const subStates: State[] = [];
      const now = await this.deps.chain.now();
      for (const sa of state.outcome.locked) {
        const onChain = await this.deps.chain.dispute(sa.ID);
        // A sub-channel is force-concluded with its parent only once its own timeout passed (the
        // Adjudicator refuses earlier: it could still be refuted); try again on a later tick.
        if (onChain && onChain.phase !== DisputePhase.CONCLUDED && now < subTimeout(onChain)) return;
        const match = this.knownSubStates(sa.ID).find(
          (c) => onChain && hashState(c.state) === onChain.stateHash,
        );
        if (!match)
          throw new PerunError(
            "UNKNOWN_SUBCHANNEL",
            `The registered state of sub-channel ${sa.ID} is unknown.`,
          );
        subStates.push(match.state);
      }
      await this.deps.chain.conclude(m.params, state, subStates);
    } catch (err) {
      this.log("warn", "conclude failed (will retry)", { channelID: rec.channelID, error: errorText(err) });
    } finally {
      this.busyChain.delete(key);
    }
  }

  private async concludeFinalOnChain(rec: ChannelRecord): Promise<void> {
    const key = `concludeFinal:${rec.channelID}`;
    if (this.busyChain.has(key)) return;
    this.busyChain.add(key);
    try {
      const d = await this.deps.chain.dispute(rec.channelID);
      if (d && d.phase === DisputePhase.CONCLUDED) return; // the peer was first; the watcher will see it
      const cur = rec.machine.current;
      if (!cur || !cur.state.isFinal) return;
      await this.deps.chain.concludeFinal(rec.machine.params, cur.state, cur.sigs as Hex[]);
    } catch (err) {
      this.log("warn", "concludeFinal failed (will retry)", {
        channelID: rec.channelID,
        error: errorText(err),
      });
    } finally {
      this.busyChain.delete(key);
    }
  }

  /** Withdraws whatever the asset holders hold for us in this concluded channel. */
  private async withdrawAll(channelID: Hex): Promise<void> {
    const key = `withdraw:${channelID}`;
    if (this.busyChain.has(key)) return;
    this.busyChain.add(key);
    try {
      const rec = this.record(channelID);
      if (rec.machine.phase !== "Withdrawing") return;
      const state = (rec.machine.current?.state ?? rec.machine.pending?.state) as State;
      const fid = fundingId(channelID, this.address);
      const amounts: bigint[] = [];
      for (const asset of state.outcome.assets) {
        const amount = await this.deps.chain.holdings(asset, fid);
        amounts.push(amount);
        if (amount === 0n) continue;
        const auth = {
          channelID,
          participant: { ethAddress: this.address, ccAddress: "0x" as Hex },
          receiver: this.address,
          amount,
        };
        await this.deps.chain.withdraw(asset, auth, signWithdrawalAuth(auth, this.deps.signer));
      }
      await this.inQueue(channelID, async () => {
        const r = this.record(channelID);
        if (r.machine.phase === "Withdrawing") this.apply(r, withdrawn(r.machine));
      });
      this.emit({ type: "withdrawn", channelID, amounts });
      for (const w of this.closedWaiters.get(channelID.toLowerCase()) ?? []) w.resolve();
      this.closedWaiters.delete(channelID.toLowerCase());
    } catch (err) {
      this.log("warn", "withdraw failed (will retry)", { channelID, error: errorText(err) });
    } finally {
      this.busyChain.delete(key);
    }
  }

  // --------------------------------------------------------------- effects

  /** Runs a transition's effects in order; `persist` comes before any send. */
  private apply(rec: ChannelRecord, t: Transition): void {
    let r = rec;
    let persisted = false;
    for (const e of t.effects) {
      switch (e.type) {
        case "persist":
          r = { ...r, machine: e.machine };
          this.persist(r);
          persisted = true;
          break;
        case "send": {
          const msg = e.msg;
          const id = r.channelID;
          void this.deps.transport.send(this.peerOf(r), this.toWire(r, msg)).catch((err) => {
            this.log("warn", "send failed", { channelID: id, error: errorText(err) });
            // Our proposal never left: whoever waits for the answer learns it now, not at the timeout.
            if (msg.type === "propose") this.failWaiter(id, msg.state.version, err);
          });
          break;
        }
        case "publish":
          this.resolveWaiter(r.channelID, e.signed.state);
          this.emit({
            type: "updated",
            channelID: r.channelID,
            version: e.signed.state.version,
            balances: e.signed.state.outcome.balances.map((row) => [...row]),
          });
          break;
        case "dropped":
          this.failWaiter(r.channelID, e.state.version, new ProposalDroppedError(e.reason));
          break;
        default:
          // Chain requests are run by the flows that asked for them (settle, dispute, watcher).
          break;
      }
    }
    if (!persisted && t.machine !== rec.machine) this.persist({ ...r, machine: t.machine });
  }

  private dropEffects(effects: readonly Effect[]): void {
    for (const e of effects) {
      if (e.type === "dropped") {
        // We lost the tie-break; our caller's update is rebuilt and retried.
        const rec = this.findRecord(e.state.channelID);
        if (rec) this.failWaiter(rec.channelID, e.state.version, new ProposalDroppedError(e.reason));
      }
    }
  }

  /**
   * Ends channel `channelID` if it is still in one of `phases`: a channel that never became usable for
   * us (our proposal unanswered or refused; a virtual channel whose locks were refused), so that it is
   * not listed forever as busy. A channel nobody else signed is forgotten; one with a fully signed
   * state (a virtual channel) is kept, hidden, because a ledger channel that ends up locking it after
   * all (a refused lock of ours completed later) can only be registered with that state.
   */
  private abandon(
    channelID: Hex,
    phases: Machine["phase"] | Machine["phase"][],
    reason: string,
  ): Promise<void> {
    const allowed = typeof phases === "string" ? [phases] : phases;
    return this.inQueue(channelID, async () => {
      const r = this.findRecord(channelID);
      if (!r || !allowed.includes(r.machine.phase) || r.meta.abandoned !== undefined) return;
      if (r.machine.current === null) {
        this.deps.store.deleteChannel(r.channelID);
        this.records.delete(r.channelID.toLowerCase());
      } else {
        this.persist({ ...r, meta: { ...r.meta, abandoned: reason } });
      }
      this.log("info", "channel abandoned", { channelID: r.channelID, reason });
      this.emit({ type: "abandoned", channelID: r.channelID, reason });
    });
  }

  private persist(rec: ChannelRecord): void {
    this.deps.store.putChannel(rec);
    this.records.set(rec.channelID.toLowerCase(), rec);
  }

  private toWire(rec: ChannelRecord, msg: ChannelMsg): WireMsg {
    switch (msg.type) {
      case "propose":
        return { type: "update", channelID: msg.channelID, from: msg.from, state: msg.state, sig: msg.sig };
      case "accept":
        if (msg.version === 0n && rec.meta.virtual) {
          return { type: "virtualAccept", proposalID: rec.meta.proposalID as Hex, sig: msg.sig };
        }
        if (msg.version === 0n && rec.meta.role === "responder") {
          return {
            type: "channelAccept",
            proposalID: rec.meta.proposalID as Hex,
            channelID: msg.channelID,
            sig: msg.sig,
          };
        }
        return {
          type: "updateAccept",
          channelID: msg.channelID,
          from: msg.from,
          version: msg.version,
          sig: msg.sig,
        };
      case "reject":
        return {
          type: "updateReject",
          channelID: msg.channelID,
          from: msg.from,
          version: msg.version,
          reason: msg.reason,
        };
    }
  }

  private async syncWith(peer: Address): Promise<void> {
    for (const rec of this.records.values()) {
      if (!sameAddress(this.peerOf(rec), peer) || !ACTIVE.includes(rec.machine.phase)) continue;
      await this.sendSync(rec, peer).catch(() => undefined);
    }
  }

  private async sendSync(rec: ChannelRecord, peer: Address): Promise<void> {
    const cur = rec.machine.current;
    if (!cur) return;
    await this.deps.transport.send(peer, {
      type: "sync",
      channelID: rec.channelID,
      state: cur.state,
      sigs: cur.sigs as Hex[],
    });
  }

  // ---------------------------------------------------------------- helpers

  private record(channelID: Hex): ChannelRecord {
    const r = this.findRecord(channelID);
    if (!r) throw new UnknownChannelError(channelID);
    return r;
  }

  private findRecord(channelID: Hex): ChannelRecord | undefined {
    return this.records.get(channelID.toLowerCase());
  }

  private peerOf(rec: ChannelRecord): Address {
    return rec.peers[1 - rec.machine.idx] as Address;
  }

  private rules(params: Params): AppRules | undefined {
    if (params.app === ZERO_ADDRESS) return undefined;
    return this.deps.apps?.get(params.app.toLowerCase());
  }

  /** Runs `fn` after every earlier task of the same channel. */
  private inQueue<T>(channelID: Hex, fn: () => Promise<T>): Promise<T> {
    const key = channelID.toLowerCase();
    const prev = this.queues.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(key, settled);
    void settled.then(() => {
      if (this.queues.get(key) === settled) this.queues.delete(key);
    });
    return run;
  }

  private waitFor(channelID: Hex, version: bigint): Promise<State> {
    return new Promise<State>((resolve, reject) => {
      this.waiters.set(`${channelID.toLowerCase()}:${version}`, { resolve, reject });
    });
  }

  private resolveWaiter(channelID: Hex, state: State): void {
    const key = `${channelID.toLowerCase()}:${state.version}`;
    const w = this.waiters.get(key);
    if (w) {
      this.waiters.delete(key);
      w.resolve(state);
    }
  }

  private failWaiter(channelID: Hex, version: bigint, err: unknown): void {
    const key = `${channelID.toLowerCase()}:${version}`;
    const w = this.waiters.get(key);
    if (w) {
      this.waiters.delete(key);
      w.reject(err);
    }
  }

  private waitClosed(channelID: Hex): Promise<void> {
    const key = channelID.toLowerCase();
    if (this.findRecord(channelID)?.machine.phase === "Withdrawn") return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const list = this.closedWaiters.get(key) ?? [];
      list.push({ resolve, reject });
      this.closedWaiters.set(key, list);
    });
  }

  private async withTimeout<T>(p: Promise<T>, what: string, peer: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new PeerTimeoutError(what, peer, this.peerTimeoutMs)),
        this.peerTimeoutMs,
      );
    });
    try {
      return await Promise.race([p, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private emit(e: ClientEvent): void {
    for (const h of this.eventHandlers) {
      try {
        h(e);
      } catch (err) {
        this.log("warn", "event handler threw", { error: errorText(err) });
      }
    }
  }

  private logError(channelID: Hex, err: unknown): void {
    this.log(err instanceof FundingTimeoutError ? "warn" : "error", errorText(err), { channelID });
  }
}

/** Our proposal is void: the peer's concurrent proposal won, or a re-sync showed it was never signed. */
export class ProposalDroppedError extends PerunError {
  constructor(reason: string) {
    super("PROPOSAL_DROPPED", `Our proposal was dropped: ${reason}.`, { hint: "Retry on the new state." });
  }
}

/** When a registered (sub-)channel may be concluded: its timeout, plus one challenge duration for an app channel still in DISPUTE (room for progress), as `conclude` computes it. */
function subTimeout(d: {
  timeout: bigint;
  challengeDuration: bigint;
  hasApp: boolean;
  phase: number;
}): bigint {
  return d.phase === DisputePhase.DISPUTE && d.hasApp ? d.timeout + d.challengeDuration : d.timeout;
}

/** Whether the locked sub-allocations differ (a lock or unlock of a sub- or virtual channel). */
/** Whether the locked sub-allocations differ in any way: added, removed, or changed in place. */
function locksChanged(a: State, b: State): boolean {
  const { added, removed } = diffLocked(a.outcome.locked, b.outcome.locked);
  return added.length + removed.length > 0;
}

/** Every participant of `params` signed `state`. */
function requireAllSigned(params: Params, state: State, sigs: readonly Hex[]): void {
  params.participants.forEach((p, i) => {
    const sig = sigs[i];
    if (!sig || !sameAddress(recoverStateSigner(state, sig), p.ethAddress)) {
      throw new PerunError(
        "INVALID_SIGNATURE",
        `Signature ${i} on the virtual channel's state is not by ${p.ethAddress}.`,
      );
    }
  });
}

/** What two contexts of the same V must agree on. */
function contextKey(c: VirtualFundingMsg): unknown {
  return {
    path: c.path.map((a) => a.toLowerCase()),
    ledgerIDs: c.ledgerIDs.map((l) => l.toLowerCase()),
    fees: c.fees,
    expiry: c.expiry,
    initial: hashState(c.initial),
  };
}

/** A policy verdict as a handler's decision. */
function asDecision(v: Verdict): Decision {
  return v.ok ? { accept: true } : { accept: false, reason: `${v.reason} (policy: ${v.rule})` };
}

function sameAddress(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && a.toLowerCase() === b.toLowerCase();
}

function errorText(err: unknown): string {
  return err instanceof Error ? (err.message.split("\n")[0] ?? String(err)) : String(err);
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

/** `v` moved into `b`. */
function clamp(v: bigint, b: { readonly min: bigint; readonly max: bigint }): bigint {
  return v < b.min ? b.min : v > b.max ? b.max : v;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
