/**
 * The ledger channel protocol (design.md section 4): open (propose or answer a channel proposal),
 * update and pay, and the cooperative close; the peer's channel messages (update, accept, reject,
 * sync) go through here. Each step is one transition of the pure channel machine
 * (src/channel/machine.ts) carried out by the channel table; what we sign is decided by the signing
 * policy (src/channel/policy.ts) and the handlers. Funding is the Funding role's, a dispute the
 * Disputes role's, and a change of locks (a virtual channel locked or unlocked) is held and decided by
 * the HeldLocks role.
 */
import { hashState } from "../channel/hash.js";
import {
  acceptUpdate,
  createMachine,
  proposeFinal,
  proposeInit,
  proposeUpdate,
  receiveAcceptance,
  receiveRejection,
  receiveSync,
  receiveUpdate,
  rejectUpdate,
} from "../channel/machine.js";
import { balanceDelta } from "../channel/payment.js";
import { checkLedgerChannel, enforce } from "../channel/policy.js";
import type { Address, Hex, State } from "../channel/types.js";
import { ZERO_ADDRESS } from "../channel/types.js";
import { validateParams, validateState } from "../channel/validation.js";
import { PerunError } from "../errors.js";
import type { ChannelRecord } from "../store/store.js";
import type { WireMsg } from "../wire/messages.js";
import type { ClientContext } from "./context.js";
import { changesLocks } from "./decisions.js";
import {
  ChannelBusyError,
  LockedFundsError,
  PeerOfflineError,
  PeerTimeoutError,
  ProposalDroppedError,
  UnknownChannelError,
  UpdateRejectedError,
} from "./errors.js";
import { PaymentBatches } from "./payment-batches.js";
import type { Roles } from "./roles.js";
import type { OpenChannelRequest } from "./types.js";
import { clamp, errorText, random32, sameAddress, sleep } from "./util.js";

/** Challenge duration of a channel opened without one, moved into the policy's bounds. */
export const DEFAULT_CHALLENGE_DURATION = 60n;

export type ChannelMsgIn = Extract<WireMsg, { type: "update" | "updateAccept" | "updateReject" | "sync" }>;

export class LedgerChannels {
  /** Ids of channels a peer proposed that are being decided (reserved before the first await). */
  readonly opening = new Set<string>();
  private readonly payments = new PaymentBatches((id, build) => this.update(id, build));

  constructor(
    private readonly ctx: ClientContext,
    private readonly roles: Roles,
  ) {}

  /**
   * Proposes a ledger channel to `peer`; resolves once both signed version 0
   * and both deposits are on chain. If the peer does not fund in time, our
   * deposit is recovered on chain and this rejects with FundingTimeoutError.
   */
  async openChannel(req: OpenChannelRequest): Promise<Hex> {
    const { deps, table, address } = this.ctx;
    const policy = deps.policy;
    const params = validateParams({
      challengeDuration: req.challengeDuration ?? clamp(DEFAULT_CHALLENGE_DURATION, policy.challengeDuration),
      nonce: BigInt(random32()),
      participants: [
        { ethAddress: address, ccAddress: "0x" },
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
    const proposalID = random32();
    const t = proposeInit(machine, initial, deps.signer, table.rules(params));
    machine = t.machine;
    const sig = machine.pending?.sigs[0] as Hex;
    const rec: ChannelRecord = {
      channelID: machine.channelID,
      machine,
      peers: [address, req.peer],
      fundingDeadline: null,
      meta: { proposalID, fundingTimeout, role: "proposer", deposits: initial.outcome.balances },
    };
    // Persist our signed initial state before it leaves.
    table.persist(rec);
    let peerSig: Hex;
    try {
      peerSig = await this.ctx.askPeer(
        proposalID,
        req.peer,
        { type: "channelProposal", proposalID, params, initial, sig, fundingTimeout },
        "the channel proposal",
        () => this.ctx.emit({ type: "proposed", channelID: rec.channelID, peer: req.peer }),
      );
    } catch (err) {
      // Refused, unanswered or unsent: we deposited nothing. Should the peer have signed after all,
      // its own funding deadline recovers its deposit; the channel is nothing to us.
      await table.abandon(rec.channelID, "InitSigning", errorText(err));
      throw err;
    }
    await table.inQueue(rec.channelID, async () => {
      const cur = table.record(rec.channelID);
      if (cur.machine.phase !== "InitSigning") return; // a re-sync got there first
      table.apply(cur, receiveAcceptance(cur.machine, peerSig, 1, 0n));
    });
    this.ctx.emit({ type: "opened", channelID: rec.channelID });
    await this.roles.funding.fundAndWait(rec.channelID);
    return rec.channelID;
  }

  /** A peer proposes a ledger channel to us: the policy, then the proposal handler, decide. */
  async handleProposal(from: Address, msg: Extract<WireMsg, { type: "channelProposal" }>): Promise<void> {
    const { deps, table } = this.ctx;
    const params = msg.params;
    const parts = params.participants;
    const reject = (reason: string) =>
      deps.transport.send(from, { type: "channelReject", proposalID: msg.proposalID, reason });
    if (parts.length !== 2 || !params.ledgerChannel || params.virtualChannel) {
      return reject("only two-party ledger channels are supported");
    }
    if (!sameAddress(parts[0]?.ethAddress, from)) {
      // The proposer must be participant 0 and the authenticated sender.
      return reject("the proposer is not participant 0");
    }
    if (!sameAddress(parts[1]?.ethAddress, this.ctx.address)) return reject("we are not participant 1");
    const machine0 = createMachine(params, 1);
    const key = machine0.channelID.toLowerCase();
    // The same proposal twice must never make two channels (and two funding runs): the id is reserved
    // before the first await and checked again after the last.
    if (table.has(key as Hex) || this.opening.has(key)) return reject("channel id already in use");
    // An app we do not play: refused in so many words (the machine could not even check its state).
    if (params.app.toLowerCase() !== ZERO_ADDRESS && table.app(params) === undefined) {
      return reject(`app ${params.app} is not one whose rules we have (policy: app)`);
    }
    // Validates the initial state and the proposer's signature; throws (-> error reply) if invalid.
    const t = receiveUpdate(machine0, msg.initial, msg.sig, 0, table.rules(params));
    const verdict = checkLedgerChannel(deps.policy, {
      params,
      initial: msg.initial,
      fundingTimeout: msg.fundingTimeout,
      idx: 1,
      ours: false,
    });
    if (!verdict.ok) return reject(`${verdict.reason} (policy: ${verdict.rule})`);
    this.opening.add(key);
    try {
      const d = await this.ctx.proposalHandler({
        from,
        params,
        initial: msg.initial,
        fundingTimeout: msg.fundingTimeout,
      });
      if (!d.accept) return reject(d.reason);
      const accepted = await table.inQueue(machine0.channelID, async () => {
        if (table.has(machine0.channelID)) return false;
        const rec: ChannelRecord = {
          channelID: machine0.channelID,
          machine: t.machine,
          peers: [from, this.ctx.address],
          fundingDeadline: null,
          meta: {
            proposalID: msg.proposalID,
            fundingTimeout: msg.fundingTimeout,
            role: "responder",
            deposits: msg.initial.outcome.balances,
          },
        };
        table.hold(rec);
        table.apply(rec, acceptUpdate(t.machine, deps.signer));
        return true;
      });
      if (!accepted) return reject("channel id already in use");
    } finally {
      this.opening.delete(key);
    }
    this.ctx.emit({ type: "opened", channelID: machine0.channelID });
    void this.roles.funding
      .fundAndWait(machine0.channelID)
      .catch((e) => this.ctx.logError(machine0.channelID, e));
  }

  /**
   * Proposes the state `build(current)` (version + 1) and resolves with it once
   * the peer signed. A proposal that loses the concurrent-proposal tie-break is
   * rebuilt on the new current state and retried.
   */
  async update(channelID: Hex, build: (current: State) => State): Promise<State> {
    // Our own updates of one channel go one at a time (a second would find the channel in
    // Signing); the peer's proposals still interleave through the channel queue.
    return this.ctx.table.inQueue(`local:${channelID}` as Hex, async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.updateOnce(channelID, build);
        } catch (err) {
          if (!(err instanceof ProposalDroppedError) || attempt >= 5) throw err;
        }
      }
    });
  }

  /** Pays `amount` of asset `asset` to the peer (in one update with the other payments in flight). */
  pay(channelID: Hex, amount: bigint, asset = 0): Promise<State> {
    const rec = this.ctx.table.record(channelID);
    return this.payments.pay(rec.channelID, rec.machine.idx, asset, amount);
  }

  private async updateOnce(channelID: Hex, build: (current: State) => State): Promise<State> {
    const { table } = this.ctx;
    const done = await table.inQueue(channelID, async () => {
      const rec = table.record(channelID);
      const m = rec.machine;
      if (
        m.phase === "Signing" &&
        m.pending?.proposer === m.idx &&
        this.roles.resync.isRedelivering(table.peerOf(rec))
      ) {
        // Fails fast, and makes the next delivery come now: the peer may be back.
        this.roles.resync.nudge(table.peerOf(rec));
        throw new PeerOfflineError(channelID, table.peerOf(rec));
      }
      if (rec.machine.phase !== "Acting") throw new ChannelBusyError(channelID, rec.machine.phase);
      if (this.roles.virtual.heldIn(channelID)) {
        throw new ChannelBusyError(channelID, "holding a lock proposal");
      }
      // Wrapped: returning the promise itself would hold the queue until the peer answers.
      return this.propose(rec, build);
    });
    const peer = table.peerOf(table.record(channelID));
    try {
      return await this.ctx.withTimeout(done.waiter, `update ${channelID}`, peer);
    } catch (err) {
      // Unanswered: the update stays ours to deliver until the peer signs or refuses it.
      if (err instanceof PeerTimeoutError) this.roles.resync.unanswered(peer);
      throw err;
    }
  }

  /** Signs and sends `build(current)` in channel `rec` (Acting, in its queue); the waiter resolves once signed. */
  propose(rec: ChannelRecord, build: (current: State) => State): { waiter: Promise<State>; next: State } {
    const { table, deps } = this.ctx;
    const next = build(rec.machine.current?.state as State);
    const t = proposeUpdate(rec.machine, next, deps.signer, table.rules(rec.machine.params));
    const waiter = table.waitFor(rec.channelID, next.version);
    table.apply(rec, t);
    return { waiter, next };
  }

  /** Proposes the final state of channel `channelID` (Acting) and waits until the peer signed it. */
  async proposeFinal(channelID: Hex): Promise<void> {
    const { table, deps } = this.ctx;
    const fin = await table.inQueue(channelID, async () => {
      const r = table.record(channelID);
      const t = proposeFinal(r.machine, deps.signer, table.rules(r.machine.params));
      const waiter = table.waitFor(channelID, (r.machine.current?.state.version as bigint) + 1n);
      table.apply(r, t);
      return { waiter };
    });
    await this.ctx.withTimeout(
      fin.waiter,
      `the final state of ${channelID}`,
      table.peerOf(table.record(channelID)),
    );
  }

  /**
   * Closes the channel and withdraws our funds. Cooperative by default: a final
   * state signed by both, concludeFinal, withdraw. With `force` (or when the
   * peer does not answer), by dispute: register our latest state, wait for the
   * challenge duration, conclude, withdraw.
   */
  async settle(channelID: Hex, opts: { force?: boolean } = {}): Promise<void> {
    const { table } = this.ctx;
    if (!opts.force) {
      const locked = table.record(channelID).machine.current?.state.outcome.locked ?? [];
      if (locked.length > 0)
        throw new LockedFundsError(
          channelID,
          locked.map((l) => l.ID),
        );
    }
    const closedP = table.waitClosed(channelID);
    if (!opts.force) {
      try {
        await this.closeCooperatively(channelID);
      } catch (err) {
        this.ctx.log("warn", "cooperative close failed; settling by dispute", {
          channelID,
          error: String(err),
        });
      }
      const now = table.record(channelID);
      if (now.machine.phase === "Final") {
        await this.roles.disputes.concludeFinalOnChain(now);
        await closedP;
        return;
      }
    }
    await this.roles.disputes.dispute(channelID);
    await closedP;
  }

  /**
   * Proposes the final state once the updates in flight are done: our own ones queued before this
   * (the `local:` queue) and one being decided (Signing) for at most a peer timeout. A final state that
   * loses the tie-break against a concurrent update of the peer is proposed again on the new state.
   */
  private async closeCooperatively(channelID: Hex): Promise<void> {
    const { table } = this.ctx;
    await table.inQueue(`local:${channelID}` as Hex, async () => {
      const until = Date.now() + this.ctx.timing.peerTimeoutMs;
      while (table.record(channelID).machine.phase === "Signing" && Date.now() < until) {
        await sleep(Math.min(this.ctx.timing.pollMs, 50));
      }
      for (let attempt = 0; table.record(channelID).machine.phase === "Acting"; attempt++) {
        try {
          await this.proposeFinal(channelID);
          return;
        } catch (err) {
          if (!(err instanceof ProposalDroppedError) || attempt >= 5) throw err;
        }
      }
    });
  }

  /** A peer's message about one of our channels: an update proposal, an answer to ours, or a sync. */
  async handleChannelMsg(from: Address, msg: ChannelMsgIn): Promise<void> {
    const { table } = this.ctx;
    const rec = table.find(msg.channelID);
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
    switch (msg.type) {
      case "update":
        return table.inQueue(id, () => this.receiveProposal(from, msg));
      case "updateAccept":
        return table.inQueue(id, async () => {
          const r = table.record(id);
          const pending = r.machine.pending;
          if (pending === null || pending.proposer !== r.machine.idx || pending.state.version !== msg.version)
            return;
          table.apply(r, receiveAcceptance(r.machine, msg.sig, msg.from, msg.version));
        });
      case "updateReject":
        return table.inQueue(id, async () => {
          const r = table.record(id);
          const pending = r.machine.pending;
          if (pending === null || pending.proposer !== r.machine.idx || pending.state.version !== msg.version)
            return;
          table.failWaiter(id, msg.version, new UpdateRejectedError(id, msg.version, msg.reason));
          table.apply(r, receiveRejection(r.machine, msg.from, msg.version, msg.reason));
        });
      case "sync":
        return table.inQueue(id, async () => {
          const r = table.record(id);
          const ours = r.machine.current;
          table.apply(r, receiveSync(r.machine, msg.state, msg.sigs, 1 - r.machine.idx));
          // The peer is behind: tell it what we have (only then, so syncs never ping-pong).
          if (ours && ours.state.version > msg.state.version)
            await this.roles.resync.sendSync(table.record(id), from);
          if (
            table.record(id).machine.phase === "Funding" &&
            r.machine.phase === "InitSigning" &&
            !r.machine.params.virtualChannel
          ) {
            void this.roles.funding.fundAndWait(id).catch((e) => this.ctx.logError(id, e));
          }
        });
    }
  }

  /** The peer proposes the next state of channel `msg.channelID` (in the channel's queue). */
  private async receiveProposal(from: Address, msg: Extract<WireMsg, { type: "update" }>): Promise<void> {
    const { table, deps } = this.ctx;
    const id = msg.channelID;
    // The peer saw the funding complete before our poll did: check now rather than refuse.
    const funding = table.record(id).machine;
    if (
      funding.phase === "Funding" &&
      funding.params.ledgerChannel &&
      (await this.roles.funding.allDeposited(id))
    )
      this.roles.funding.markFunded(id);
    const r = table.record(id);
    const cur = r.machine.current;
    if (
      cur &&
      cur.state.version === msg.state.version &&
      cur.sigs.every((x) => x !== null) &&
      hashState(cur.state) === hashState(msg.state)
    ) {
      // A proposal we signed already (our answer crossed a re-sync): the peer gets the state with
      // both signatures instead of an error that would make it give the state up.
      await this.roles.resync.sendSync(r, from);
      return;
    }
    if (this.roles.heldLocks.receiveAgain(r, msg)) return;
    const t = receiveUpdate(r.machine, msg.state, msg.sig, msg.from, table.rules(r.machine.params));
    if (t.machine.pending === null || t.machine.pending.proposer === r.machine.idx) {
      // Our own concurrent proposal wins the tie-break: the peer drops its.
      return;
    }
    table.dropEffects(t.effects);
    const current = r.machine.current?.state as State;
    if (r.machine.params.ledgerChannel && changesLocks(current, msg.state)) {
      // A lock or unlock: held (nothing else is signed in this channel meanwhile) and decided by the
      // HeldLocks role, leaving the queue free for the peer's other messages.
      this.roles.heldLocks.hold(r, t.machine, current, msg);
      return;
    }
    const decision = await this.ctx.updateHandler({
      channelID: id,
      from,
      current,
      next: msg.state,
      delta: balanceDelta(current, msg.state, r.machine.idx),
      // receiveUpdate checked the move against the app's rules (a channel with an app we do not know
      // never got this far: the policy refused to open it).
      ...(table.app(r.machine.params) === undefined ? {} : { appMove: true }),
    });
    // The peer's proposal itself needs no persisting: nothing of ours leaves until we sign.
    if (!decision.accept) {
      table.apply(r, rejectUpdate(t.machine, decision.reason));
      return;
    }
    table.apply(r, acceptUpdate(t.machine, deps.signer));
    if (msg.state.isFinal) this.finalSigned(id);
  }

  /**
   * A final state of channel `id` is signed by both (the peer's, or ours: a move that ended a game):
   * a virtual channel is unlocked into our ledger channel at once; a ledger channel's final state is
   * concluded on chain if the peer does not close it.
   */
  finalSigned(id: Hex): void {
    const { table, deps } = this.ctx;
    if (table.record(id).machine.params.virtualChannel && deps.options?.unlockOnFinal !== false) {
      void this.roles.virtualEnd.unlockVirtual(id).catch((e) => this.ctx.logError(id, e));
    } else table.mark(id, { finalAt: Date.now() });
  }

  /**
   * The peer refused a message of ours about `channelID` as invalid. If our
   * proposal is pending, the peer did not sign it: it is void, like a rejection.
   */
  async peerRefused(from: Address, channelID: Hex, reason: string): Promise<void> {
    const { table } = this.ctx;
    const rec = table.find(channelID);
    if (!rec || !sameAddress(table.peerOf(rec), from)) return;
    await table.inQueue(rec.channelID, async () => {
      const r = table.record(rec.channelID);
      const pending = r.machine.pending;
      if (pending === null || pending.proposer !== r.machine.idx || r.machine.phase !== "Signing") return;
      const version = pending.state.version;
      table.failWaiter(r.channelID, version, new UpdateRejectedError(r.channelID, version, reason));
      table.apply(r, receiveRejection(r.machine, 1 - r.machine.idx, version, reason));
    });
  }
}
