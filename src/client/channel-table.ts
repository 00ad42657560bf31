/**
 * Every channel record this client holds (ledger and virtual), and the one place a channel machine's
 * transition is carried out (design.md section 4; house style rule 5): `apply` runs a transition's
 * effects in order, persisting before anything leaves the process. Also the per-channel queue
 * (transitions of one channel run one at a time) and the waiters for our own proposals.
 *
 * Roles never write a record but through `persist`/`apply` here, so the store and the memory agree.
 */
import type { AppDefinition, AppRules } from "../channel/app.js";
import type { ChannelMsg, Effect, Machine, Transition } from "../channel/machine.js";
import type { Address, Hex, Params, State } from "../channel/types.js";
import { ZERO_ADDRESS } from "../channel/types.js";
import type { ChannelRecord } from "../store/store.js";
import type { WireMsg } from "../wire/messages.js";
import { ProposalDroppedError, UnknownChannelError } from "./errors.js";
import type { ClientDeps, ClientEvent, Logger } from "./types.js";
import { errorText } from "./util.js";

interface Waiter {
  resolve(v: State): void;
  reject(e: unknown): void;
}

export class ChannelTable {
  private readonly records = new Map<string, ChannelRecord>();
  private readonly queues = new Map<string, Promise<unknown>>();
  /** Waiters for our own proposals, by `${channelID}:${version}`. */
  private readonly waiters = new Map<string, Waiter>();
  private readonly closedWaiters = new Map<string, { resolve(): void; reject(e: unknown): void }[]>();

  constructor(
    private readonly deps: Pick<ClientDeps, "transport" | "store" | "apps">,
    private readonly emit: (e: ClientEvent) => void,
    private readonly log: Logger,
    /** A proposal of ours could not be sent to `peer` (the Resync role delivers it again). */
    private readonly onUndelivered: (peer: Address) => void = () => {},
  ) {}

  /** Loads every record from the store (at start). */
  load(): void {
    for (const rec of this.deps.store.listChannels()) this.records.set(rec.channelID.toLowerCase(), rec);
  }

  all(): ChannelRecord[] {
    return [...this.records.values()];
  }

  has(channelID: Hex): boolean {
    return this.records.has(channelID.toLowerCase());
  }

  record(channelID: Hex): ChannelRecord {
    const r = this.find(channelID);
    if (!r) throw new UnknownChannelError(channelID);
    return r;
  }

  find(channelID: Hex): ChannelRecord | undefined {
    return this.records.get(channelID.toLowerCase());
  }

  /** Keeps `rec` in memory only: a peer's proposal we have not signed needs no persisting. */
  hold(rec: ChannelRecord): void {
    this.records.set(rec.channelID.toLowerCase(), rec);
  }

  persist(rec: ChannelRecord): void {
    this.deps.store.putChannel(rec);
    this.records.set(rec.channelID.toLowerCase(), rec);
  }

  /** Forgets a channel nobody else ever signed (see `abandon` of the client). */
  forget(channelID: Hex): void {
    this.deps.store.deleteChannel(channelID);
    this.records.delete(channelID.toLowerCase());
  }

  /** Persists `rec` with `meta` merged into its meta. */
  mark(channelID: Hex, meta: Record<string, unknown>): void {
    const r = this.record(channelID);
    this.persist({ ...r, meta: { ...r.meta, ...meta } });
  }

  /**
   * Ends channel `channelID` if it is still in one of `phases`: a channel that never became usable for
   * us (our proposal unanswered or refused; a virtual channel whose locks were refused), so that it is
   * not listed forever as busy. A channel nobody else signed is forgotten; one with a fully signed
   * state (a virtual channel) is kept, hidden, because a ledger channel that ends up locking it after
   * all (a refused lock of ours completed later) can only be registered with that state.
   */
  abandon(channelID: Hex, phases: Phase | Phase[], reason: string): Promise<void> {
    const allowed = typeof phases === "string" ? [phases] : phases;
    return this.inQueue(channelID, async () => {
      const r = this.find(channelID);
      if (!r || !allowed.includes(r.machine.phase) || r.meta.abandoned !== undefined) return;
      if (r.machine.current === null) this.forget(r.channelID);
      else this.persist({ ...r, meta: { ...r.meta, abandoned: reason } });
      this.log("info", "channel abandoned", { channelID: r.channelID, reason });
      this.emit({ type: "abandoned", channelID: r.channelID, reason });
    });
  }

  peerOf(rec: ChannelRecord): Address {
    return rec.peers[1 - rec.machine.idx] as Address;
  }

  rules(params: Params): AppRules | undefined {
    return this.app(params)?.rules;
  }

  /** The app channel `params` runs, if we know it (undefined for payment channels). */
  app(params: Params): AppDefinition | undefined {
    if (params.app.toLowerCase() === ZERO_ADDRESS) return undefined;
    return this.deps.apps?.get(params.app.toLowerCase());
  }

  /** Runs `fn` after every earlier task of the same channel. */
  inQueue<T>(channelID: Hex, fn: () => Promise<T>): Promise<T> {
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

  /** Runs a transition's effects in order; `persist` comes before any send. */
  apply(rec: ChannelRecord, t: Transition): void {
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
          const peer = this.peerOf(r);
          void this.deps.transport.send(peer, toWire(r, msg)).catch((err) => {
            this.log("warn", "send failed", { channelID: id, error: errorText(err) });
            // Our proposal never left: whoever waits for the answer learns it now, not at the timeout.
            if (msg.type === "propose") {
              this.failWaiter(id, msg.state.version, err);
              if (msg.state.version > 0n) this.onUndelivered(peer);
            }
          });
          break;
        }
        case "publish": {
          // Our caller and the event stream hear of the state once it is committed, not before.
          const id = r.channelID;
          const state = e.signed.state;
          void this.deps.store.durable().then(
            () => {
              this.resolveWaiter(id, state);
              this.emit({
                type: "updated",
                channelID: id,
                version: state.version,
                balances: state.outcome.balances.map((row) => [...row]),
              });
            },
            (err) => this.failWaiter(id, state.version, err),
          );
          break;
        }
        case "dropped":
          this.failWaiter(r.channelID, e.state.version, new ProposalDroppedError(e.reason));
          break;
        default:
          // Chain requests are run by the roles that asked for them (settle, dispute, chain follower).
          break;
      }
    }
    if (!persisted && t.machine !== rec.machine) this.persist({ ...r, machine: t.machine });
  }

  /** The `dropped` effects of a transition not applied: our caller's update is rebuilt and retried. */
  dropEffects(effects: readonly Effect[]): void {
    for (const e of effects) {
      if (e.type === "dropped") {
        const rec = this.find(e.state.channelID);
        if (rec) this.failWaiter(rec.channelID, e.state.version, new ProposalDroppedError(e.reason));
      }
    }
  }

  waitFor(channelID: Hex, version: bigint): Promise<State> {
    return new Promise<State>((resolve, reject) => {
      this.waiters.set(`${channelID.toLowerCase()}:${version}`, { resolve, reject });
    });
  }

  failWaiter(channelID: Hex, version: bigint, err: unknown): void {
    const key = `${channelID.toLowerCase()}:${version}`;
    const w = this.waiters.get(key);
    if (w) {
      this.waiters.delete(key);
      w.reject(err);
    }
  }

  private resolveWaiter(channelID: Hex, state: State): void {
    const key = `${channelID.toLowerCase()}:${state.version}`;
    const w = this.waiters.get(key);
    if (w) {
      this.waiters.delete(key);
      w.resolve(state);
    }
  }

  /** Resolves once the channel is Withdrawn (our funds are out). */
  waitClosed(channelID: Hex): Promise<void> {
    const key = channelID.toLowerCase();
    if (this.find(channelID)?.machine.phase === "Withdrawn") return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const list = this.closedWaiters.get(key) ?? [];
      list.push({ resolve, reject });
      this.closedWaiters.set(key, list);
    });
  }

  closedNow(channelID: Hex): void {
    for (const w of this.closedWaiters.get(channelID.toLowerCase()) ?? []) w.resolve();
    this.closedWaiters.delete(channelID.toLowerCase());
  }

  /** Rejects every waiter and waits for every queued task: the client is closing. */
  async close(err: unknown): Promise<void> {
    for (const w of this.waiters.values()) w.reject(err);
    for (const ws of this.closedWaiters.values()) for (const w of ws) w.reject(err);
    this.waiters.clear();
    this.closedWaiters.clear();
    await Promise.allSettled([...this.queues.values()]);
  }
}

/** A machine's message to the peer, as it goes on the wire (version 0 answers an open proposal). */
function toWire(rec: ChannelRecord, msg: ChannelMsg): WireMsg {
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

export type Phase = Machine["phase"];
