/**
 * An end of a virtual channel V (Alice or Bob; design.md section 5): open V with a peer through a path
 * of intermediaries (both ends sign V's initial state, then each locks V's funds in its ledger channel
 * with its neighbour on the path; no transaction), answer such a proposal, close V optimistically (the
 * final state unlocks V's funds in the ledger channels, still no transaction), and close V by
 * ourselves once it expired. V's updates are ordinary channel updates (the LedgerChannels role's
 * `update`); its disputes go through our ledger channel that locks it (the Disputes role).
 */
import {
  acceptUpdate,
  createMachine,
  proposeInit,
  receiveAcceptance,
  receiveUpdate,
} from "../channel/machine.js";
import { hopLockArgs, pathLocks } from "../channel/path.js";
import { checkVirtualChannel, enforce } from "../channel/policy.js";
import type { Address, Hex, State } from "../channel/types.js";
import { ZERO_ADDRESS } from "../channel/types.js";
import {
  lockInLedger,
  locksSubChannel,
  unlockFromLedger,
  virtualInitialState,
  virtualParams,
} from "../channel/virtual.js";
import { PerunError } from "../errors.js";
import type { ChannelRecord } from "../store/store.js";
import type { WireMsg } from "../wire/messages.js";
import type { ClientContext } from "./context.js";
import { ChannelBusyError, PeerTimeoutError } from "./errors.js";
import { DEFAULT_CHALLENGE_DURATION } from "./ledger-channel.js";
import type { Roles } from "./roles.js";
import type { Decision, OpenVirtualRequest, VirtualInfo } from "./types.js";
import { clamp, errorText, min, random32, sameAddress } from "./util.js";

export class VirtualChannelEnd {
  constructor(
    private readonly ctx: ClientContext,
    private readonly roles: Roles,
  ) {}

  /** After a restart: a V funded only by our lock is locked again (or learns that it is signed or refused). */
  resume(rec: ChannelRecord): void {
    if (
      rec.machine.phase !== "Funding" ||
      !rec.machine.params.virtualChannel ||
      rec.meta.abandoned !== undefined
    )
      return;
    const info = rec.meta.virtual as VirtualInfo;
    const hop = rec.machine.idx === 0 ? 0 : info.path.length - 2;
    void this.lockVirtual(rec.channelID, hop).catch((e) => this.ctx.logError(rec.channelID, e));
  }

  /**
   * Opens a virtual channel V with `peer` through the intermediaries `via` (design.md section 5), with
   * no transaction: both ends sign V's initial state, then V's funds are locked in every ledger channel
   * along the path (see `lockVirtual` for the order that keeps every intermediary whole). Resolves with
   * V's id once our lock is signed; V is then updated directly with `update`/`pay`, without them.
   */
  async openVirtualChannel(req: OpenVirtualRequest): Promise<Hex> {
    const { table, deps, address } = this.ctx;
    const ledger = table.record(req.ledger);
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
    if (!sameAddress(table.peerOf(ledger), via[0])) {
      throw new PerunError("NOT_OUR_INTERMEDIARY", `Ledger channel ${req.ledger} is not with ${via[0]}.`);
    }
    const assets = (ledger.machine.current?.state as State).outcome.assets;
    const params = virtualParams({
      alice: address,
      bob: req.peer,
      nonce: BigInt(random32()),
      // V's dispute must fit into our ledger channel's (see the staircase rule of the policy).
      challengeDuration:
        req.challengeDuration ??
        min(
          clamp(DEFAULT_CHALLENGE_DURATION, deps.policy.challengeDuration),
          ledger.machine.params.challengeDuration,
        ),
      ...(req.app === undefined ? {} : { app: req.app }),
    });
    const initial = virtualInitialState(params, assets, req.balances, undefined, req.appData ?? "0x");
    const path = [address, ...via, req.peer];
    const ledgerIDs = [req.ledger, ...peerLedgers];
    const now = await deps.chain.now();
    const expiry = now + req.seconds;
    pathLocks(path, initial, fees); // validates shapes before anything is signed
    enforce(
      checkVirtualChannel(deps.policy, {
        params,
        initial,
        expiry,
        now,
        idx: 0,
        ours: true,
        ledgerChallenge: ledger.machine.params.challengeDuration,
      }),
    );
    const proposalID = random32();
    const t = proposeInit(createMachine(params, 0), initial, deps.signer, table.rules(params));
    const vID = t.machine.channelID;
    const virtual: VirtualInfo = { path, ledgerIDs, fees, expiry, ledger: req.ledger };
    table.persist({
      channelID: vID,
      machine: t.machine,
      peers: [address, req.peer],
      fundingDeadline: null,
      meta: { proposalID, role: "proposer", virtual },
    });
    try {
      const peerSig = await this.ctx.askPeer(
        proposalID,
        req.peer,
        {
          type: "virtualProposal",
          proposalID,
          path,
          ledgerIDs,
          params,
          initial,
          sig: t.machine.pending?.sigs[0] as Hex,
          fees,
          expiry,
        },
        "the virtual channel proposal",
      );
      await table.inQueue(vID, async () => {
        const r = table.record(vID);
        if (r.machine.phase === "InitSigning") table.apply(r, receiveAcceptance(r.machine, peerSig, 1, 0n));
      });
    } catch (err) {
      // Nothing is locked for V yet: V is nothing to us (the peer, should it have signed, locks nothing
      // without our context reaching the intermediaries).
      await table.abandon(vID, "InitSigning", errorText(err));
      throw err;
    }
    await this.lockVirtual(vID, 0);
    return vID;
  }

  /** The peer proposes V to us: check that we are its last participant and have the ledger channel. */
  async handleVirtualProposal(
    from: Address,
    msg: Extract<WireMsg, { type: "virtualProposal" }>,
  ): Promise<void> {
    const { table, deps, address } = this.ctx;
    const reject = (reason: string) =>
      deps.transport.send(from, { type: "virtualReject", proposalID: msg.proposalID, reason });
    const { params, path } = msg;
    const last = path.length - 1;
    if (path.length < 3 || msg.ledgerIDs.length !== last || msg.fees.length !== path.length - 2) {
      return reject("the path, its ledger channels and its fees do not fit together");
    }
    if (!sameAddress(path[0], from) || !sameAddress(path[last], address))
      return reject("we are not the path's end");
    if (!params.virtualChannel || !sameAddress(params.participants[0]?.ethAddress, from)) {
      return reject("not a virtual channel proposed by its first participant");
    }
    if (!sameAddress(params.participants[1]?.ethAddress, address)) return reject("we are not participant 1");
    const ledger = table.find(msg.ledgerIDs[last - 1] as Hex);
    if (!ledger || ledger.machine.phase !== "Acting" || !sameAddress(table.peerOf(ledger), path[last - 1])) {
      return reject("we have no open ledger channel with the last intermediary");
    }
    if (params.app.toLowerCase() !== ZERO_ADDRESS && table.app(params) === undefined) {
      return reject(`app ${params.app} is not one whose rules we have (policy: app)`);
    }
    const now = await deps.chain.now();
    const t = receiveUpdate(createMachine(params, 1), msg.initial, msg.sig, 0, table.rules(params));
    const vID = t.machine.channelID;
    const key = vID.toLowerCase();
    const opening = this.roles.ledger.opening;
    if (table.find(vID) || opening.has(key)) return reject("channel id already in use");
    try {
      pathLocks(path, msg.initial, msg.fees);
    } catch (err) {
      return reject(`invalid path: ${errorText(err)}`);
    }
    const verdict = checkVirtualChannel(deps.policy, {
      params,
      initial: msg.initial,
      expiry: msg.expiry,
      now,
      idx: 1,
      ours: false,
      ledgerChallenge: ledger.machine.params.challengeDuration,
    });
    if (!verdict.ok) return reject(`${verdict.reason} (policy: ${verdict.rule})`);
    opening.add(key);
    let d: Decision;
    try {
      d = await this.ctx.proposalHandler({ from, params, initial: msg.initial, fundingTimeout: 0n });
    } finally {
      opening.delete(key);
    }
    if (!d.accept) return reject(d.reason);
    const virtual: VirtualInfo = {
      path: [...path],
      ledgerIDs: [...msg.ledgerIDs],
      fees: msg.fees.map((f) => [...f]),
      expiry: msg.expiry,
      ledger: msg.ledgerIDs[last - 1] as Hex,
    };
    await table.inQueue(vID, async () => {
      if (table.find(vID)) throw new PerunError("VIRTUAL_ID_REUSED", `Channel id ${vID} is already in use.`);
      const rec: ChannelRecord = {
        channelID: vID,
        machine: t.machine,
        peers: [from, address],
        fundingDeadline: null,
        meta: { proposalID: msg.proposalID, role: "responder", virtual },
      };
      table.hold(rec);
      table.apply(rec, acceptUpdate(t.machine, deps.signer));
    });
    this.ctx.emit({ type: "opened", channelID: vID });
    void this.lockVirtual(vID, last - 1).catch((e) => this.ctx.logError(vID, e));
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
    const { table } = this.ctx;
    const v = table.record(vID);
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
    const ledgerParams = table.record(ledgerID).machine.params;
    const { roles, fee } = hopLockArgs(hopInfo, ledgerParams);
    const outcome = this.roles.locks.proposeLock(
      ledgerID,
      vID,
      (cur) => lockInLedger(cur, ledgerParams, { id: vID, initial: signed.state }, roles, fee),
      { to: neighbour, msg: context },
      () => table.find(vID)?.meta.abandoned === undefined,
    );
    const funded = outcome.then(async (refused) => {
      if (refused !== null) {
        // V is backed by nothing: it must never become usable at our end.
        await table.abandon(vID, "Funding", `our lock was refused: ${errorText(refused)}`);
        throw refused;
      }
      await table.inQueue(vID, async () => this.roles.funding.markFunded(vID));
    });
    // Every hop of the path may take a peer timeout to answer; past that we stop waiting, but V still
    // becomes funded if the signature comes later.
    funded.catch((e) => this.ctx.logError(vID, e));
    let timer: NodeJS.Timeout | undefined;
    const budget = this.ctx.timing.peerTimeoutMs * (info.path.length - 1);
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

  /**
   * Optimistic close of V: V's final state (signed by both ends) unlocks V's funds in our ledger channel
   * with the intermediary. The other end does the same in its ledger channel.
   */
  async settleVirtual(vID: Hex): Promise<void> {
    if (this.ctx.table.record(vID).machine.phase === "Acting") await this.roles.ledger.proposeFinal(vID);
    await this.unlockVirtual(vID);
  }

  /**
   * V is final: its final state goes to our neighbour on the path, and our hop is unlocked with it.
   * One run per V at a time: the end of a game unlocks by itself while the user may close V too.
   */
  unlockVirtual(vID: Hex): Promise<void> {
    const key = vID.toLowerCase();
    let run = this.unlocking.get(key);
    if (run === undefined) {
      run = this.unlockOnce(vID).finally(() => this.unlocking.delete(key));
      this.unlocking.set(key, run);
    }
    return run;
  }

  private readonly unlocking = new Map<string, Promise<void>>();

  private async unlockOnce(vID: Hex): Promise<void> {
    const { table, deps } = this.ctx;
    const v = table.record(vID);
    if (v.meta.unlocked === true) return;
    const cur = v.machine.current as { state: State; sigs: Hex[] };
    if (!cur.state.isFinal) throw new ChannelBusyError(vID, v.machine.phase);
    const info = v.meta.virtual as VirtualInfo;
    const neighbour = info.path[v.machine.idx === 0 ? 1 : info.path.length - 2] as Address;
    await deps.transport.send(neighbour, {
      type: "virtualFinal",
      params: v.machine.params,
      state: cur.state,
      sigs: cur.sigs,
    });
    await this.unlockHop(info.ledger, cur.state);
    table.mark(vID, { unlocked: true });
    this.ctx.emit({
      type: "withdrawn",
      channelID: vID,
      amounts: cur.state.outcome.balances.map((r) => r[v.machine.idx] ?? 0n),
    });
  }

  /** Unlocks V with its final state in ledger channel `ledgerID`, unless it is no longer locked there. */
  async unlockHop(ledgerID: Hex, vFinal: State): Promise<void> {
    const { table } = this.ctx;
    if (!locksSubChannel(table.record(ledgerID).machine.current?.state, vFinal.channelID)) return;
    const ledgerParams = table.record(ledgerID).machine.params;
    await this.roles.ledger.update(ledgerID, (s) => unlockFromLedger(s, ledgerParams, vFinal));
  }

  /**
   * Our virtual channels past their expiry: one never funded is given up (unless our lock of it is
   * signed or still out); V.alice closes an expired V cooperatively (final state, unlocks; still no
   * transaction), and V.bob accepts and unlocks his side.
   */
  async closeExpired(now: bigint): Promise<void> {
    const { table } = this.ctx;
    for (const rec of table.all()) {
      const info = rec.meta.virtual as VirtualInfo | undefined;
      if (info && rec.machine.phase === "Funding" && now >= info.expiry && rec.meta.abandoned === undefined) {
        const ledger = table.find(info.ledger)?.machine;
        const lockOut =
          locksSubChannel(ledger?.current?.state, rec.channelID) ||
          locksSubChannel(ledger?.pending?.state, rec.channelID);
        if (!lockOut) void table.abandon(rec.channelID, "Funding", "expired before its locks were signed");
        continue;
      }
      if (!info || rec.meta.expiring === true || rec.machine.phase !== "Acting" || now < info.expiry)
        continue;
      if (rec.machine.idx !== 0) continue; // V.alice closes; V.bob accepts (and unlocks his side)
      table.persist({ ...rec, meta: { ...rec.meta, expiring: true } });
      this.ctx.log("info", "virtual channel expired: closing it", { channelID: rec.channelID });
      void this.settleVirtual(rec.channelID).catch((e) => this.ctx.logError(rec.channelID, e));
    }
  }
}
