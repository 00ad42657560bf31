/**
 * The client: runs ledger and virtual channels with peers (design.md sections 4 to 6), as a thin
 * facade over its roles (docs/architecture.md):
 *
 * - ./ledger-channel.ts  open, update, pay, cooperative close; the peer's channel messages
 * - ./funding.ts         deposits and the funding deadline
 * - ./dispute.ts         register, refute, conclude, withdraw
 * - ./chain-follower.ts  the watcher's events and clock ticks; following a sub-channel to the chain
 * - ./sub-states.ts      the signed states we know of sub-channels
 * - ./resync.ts          re-sync with a peer on connect and after a restart
 * - ./virtual-end.ts     an end of a virtual channel: open, lock, close
 * - ./intermediary.ts    the intermediary: contexts, lock decisions, final states, expiry
 * - ./held-locks.ts      a peer's lock or unlock proposal, held while it is decided
 * - ./lock-proposal.ts   proposing a lock until the peer signed or refused it
 *
 * Every role shares one ClientContext (deps, channel table, events; ./context.ts). The channel table
 * (./channel-table.ts) carries out the pure channel machine's transitions: persist before anything
 * leaves the process. The client talks to the world only through the ports it is given: Transport
 * (peers), Store (disk), ChainPort (adjudicator + asset holders), Signer (our key).
 *
 * Concurrency: transitions of one channel run one at a time (a per-channel queue); waiting for a peer
 * or the chain happens outside that queue, so a peer's concurrent proposal is still handled (the
 * machine's tie-break decides).
 */
import type { ChannelUpdateEvent } from "../chain/chain-port.js";
import type { AppDefinition } from "../channel/app.js";
import type { Address, Hex, State } from "../channel/types.js";
import type { ChannelRecord } from "../store/store.js";
import type { Inbound } from "../wire/messages.js";
import { AppChannels } from "./app-channel.js";
import { ChainFollower } from "./chain-follower.js";
import { ClientContext } from "./context.js";
import { shownState } from "./decisions.js";
import { Disputes } from "./dispute.js";
import { ProposalRejectedError, UnknownChannelError } from "./errors.js";
import { Funding } from "./funding.js";
import { HeldLocks } from "./held-locks.js";
import { Intermediary } from "./intermediary.js";
import { LedgerChannels } from "./ledger-channel.js";
import { LockProposals } from "./lock-proposal.js";
import { ACTIVE, Resync } from "./resync.js";
import type { Roles } from "./roles.js";
import { SubChannelStates } from "./sub-states.js";
import type {
  ChannelInfo,
  ClientDeps,
  ClientEvent,
  OpenChannelRequest,
  OpenVirtualRequest,
  ProposalHandler,
  UpdateHandler,
} from "./types.js";
import { errorText } from "./util.js";
import { VirtualChannelEnd } from "./virtual-end.js";
import { VirtualRecords } from "./virtual-records.js";

export { ProposalDroppedError } from "./errors.js";
export type * from "./types.js";

export class Client {
  readonly address: Address;
  private readonly ctx: ClientContext;
  private readonly roles: Roles;

  constructor(deps: ClientDeps) {
    const ctx = new ClientContext(deps);
    const roles = {} as { -readonly [K in keyof Roles]: Roles[K] };
    roles.virtual = new VirtualRecords(deps.store);
    roles.ledger = new LedgerChannels(ctx, roles);
    roles.funding = new Funding(ctx, roles);
    roles.disputes = new Disputes(ctx, roles);
    roles.follower = new ChainFollower(ctx, roles);
    roles.subStates = new SubChannelStates(ctx, roles);
    roles.resync = new Resync(ctx);
    roles.locks = new LockProposals(ctx, roles);
    roles.heldLocks = new HeldLocks(ctx, roles);
    roles.virtualEnd = new VirtualChannelEnd(ctx, roles);
    roles.intermediary = new Intermediary(ctx, roles);
    roles.apps = new AppChannels(ctx, roles);
    ctx.undelivered = (peer) => roles.resync.unanswered(peer);
    this.ctx = ctx;
    this.roles = roles;
    this.address = ctx.address;
    deps.transport.onMessage((m) => this.onInbound(m));
    deps.transport.onPeerConnected((peer) => roles.resync.syncWith(peer));
  }

  onProposal(handler: ProposalHandler): void {
    this.ctx.proposalHandler = handler;
  }

  onUpdate(handler: UpdateHandler): void {
    this.ctx.updateHandler = handler;
  }

  onEvent(handler: (e: ClientEvent) => void): void {
    this.ctx.onEvent(handler);
  }

  /**
   * Loads every channel from the store and resumes what was under way: funding
   * waits, settlements; peers re-sync as soon as their connection is up.
   */
  async start(): Promise<void> {
    const { table } = this.ctx;
    table.load();
    this.roles.virtual.load();
    this.roles.heldLocks.resume();
    for (const rec of table.all()) {
      const phase = rec.machine.phase;
      if (phase === "InitSigning") {
        // Our proposal's round died with the process: nothing of ours is deposited or locked for it.
        await table.abandon(rec.channelID, "InitSigning", "restarted before the peer signed our proposal");
        continue;
      }
      if (phase === "Funding" && rec.machine.params.ledgerChannel)
        void this.roles.funding.fundAndWait(rec.channelID).catch((e) => this.ctx.logError(rec.channelID, e));
      this.roles.virtualEnd.resume(rec);
      if (ACTIVE.includes(phase) && rec.machine.current !== null) {
        void this.roles.resync.sendSync(rec, table.peerOf(rec)).catch(() => undefined);
      }
    }
  }

  /** Channels with their phase, version and balances. */
  channels(): ChannelInfo[] {
    return this.ctx.table
      .all()
      .filter((r) => r.meta.abandoned === undefined)
      .map((r) => this.info(r));
  }

  /** One channel (a direct lookup: callers poll it). */
  channel(channelID: Hex): ChannelInfo {
    const r = this.ctx.table.find(channelID);
    if (!r || r.meta.abandoned !== undefined) throw new UnknownChannelError(channelID);
    return this.info(r);
  }

  private info(r: ChannelRecord): ChannelInfo {
    const cur = shownState(r.machine);
    const app = this.ctx.table.app(r.machine.params);
    return {
      channelID: r.channelID,
      peer: this.ctx.table.peerOf(r),
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
      ...(app === undefined
        ? {}
        : { app: { name: app.name, address: r.machine.params.app, state: cur ? viewOf(app, cur) : null } }),
    };
  }

  /** See LedgerChannels.openChannel. */
  openChannel(req: OpenChannelRequest): Promise<Hex> {
    return this.roles.ledger.openChannel(req);
  }

  /** See LedgerChannels.update. */
  update(channelID: Hex, build: (current: State) => State): Promise<State> {
    return this.roles.ledger.update(channelID, build);
  }

  /** See AppChannels.move: our move in an app channel, resolved once the peer signed it. */
  move(channelID: Hex, move: unknown): Promise<State> {
    return this.roles.apps.move(channelID, move);
  }

  /** Pays `amount` of asset `asset` to the peer. */
  pay(channelID: Hex, amount: bigint, asset = 0): Promise<State> {
    return this.roles.ledger.pay(channelID, amount, asset);
  }

  /** See LedgerChannels.settle. */
  settle(channelID: Hex, opts: { force?: boolean } = {}): Promise<void> {
    return this.roles.ledger.settle(channelID, opts);
  }

  /** Starts a dispute: registers our latest fully signed state on chain. The watcher does the rest. */
  dispute(channelID: Hex): Promise<void> {
    return this.roles.disputes.dispute(channelID);
  }

  /** See ChainFollower.onChainUpdate. */
  onChainUpdate(ev: ChannelUpdateEvent): Promise<void> {
    return this.roles.follower.onChainUpdate(ev);
  }

  /** See ChainFollower.tick. */
  tick(now: bigint): Promise<void> {
    return this.roles.follower.tick(now);
  }

  /** See VirtualChannelEnd.openVirtualChannel. */
  openVirtualChannel(req: OpenVirtualRequest): Promise<Hex> {
    return this.roles.virtualEnd.openVirtualChannel(req);
  }

  /** See VirtualChannelEnd.settleVirtual. */
  settleVirtual(vID: Hex): Promise<void> {
    return this.roles.virtualEnd.settleVirtual(vID);
  }

  close(): Promise<void> {
    this.roles.resync.close();
    return this.ctx.close();
  }

  /** Routes a peer's message to the role it is for; a message that fails gets an error reply. */
  private onInbound({ from, msg }: Inbound): void {
    if (this.ctx.closed) return;
    const { ledger, virtualEnd, intermediary, resync } = this.roles;
    const proposals = this.ctx.proposals;
    const handle = async () => {
      switch (msg.type) {
        case "channelProposal":
          return ledger.handleProposal(from, msg);
        case "channelAccept":
        case "virtualAccept":
          proposals.of(msg.proposalID, from)?.resolve(msg.sig);
          return;
        case "channelReject": {
          const w = proposals.of(msg.proposalID, from);
          if (!w) return;
          w.reject(new ProposalRejectedError(from, msg.reason));
          this.ctx.emit({ type: "rejected", peer: from, reason: msg.reason });
          return;
        }
        case "virtualReject":
          proposals.of(msg.proposalID, from)?.reject(new ProposalRejectedError(from, msg.reason));
          return;
        case "virtualProposal":
          return virtualEnd.handleVirtualProposal(from, msg);
        case "virtualFunding":
          return intermediary.handleVirtualFunding(from, msg);
        case "virtualFinal":
          return intermediary.handleVirtualFinal(from, msg);
        case "error":
          this.ctx.log("warn", "peer reported an error", { peer: from, reason: msg.reason });
          if (msg.channelID) await ledger.peerRefused(from, msg.channelID, msg.reason);
          return;
        default:
          return ledger.handleChannelMsg(from, msg);
      }
    };
    handle().catch((err) => {
      this.ctx.log("warn", "rejected a peer message", { peer: from, type: msg.type, reason: errorText(err) });
      const channelID = "channelID" in msg ? msg.channelID : undefined;
      void this.ctx.deps.transport
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
      if (msg.type === "update") resync.syncIfBehind(from, msg.channelID, msg.state.version);
    });
  }
}

/** An app's view of a state; a view that fails shows why instead of failing the whole listing. */
function viewOf(app: AppDefinition, state: State): unknown {
  try {
    return app.view(state);
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}
