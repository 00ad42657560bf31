/**
 * Mallory, the adversarial peer of the attack tests (design.md section 7, docs/security.md): a key with
 * its own transport on the test's network and its own chain port, and no client. She sends any
 * well-formed, correctly signed message sequence she likes, not only what a client would send: the same
 * proposal twice, a sync nobody asked for, an update to a final state that still locks funds, contexts
 * and final states of virtual channels she made up. What reaches her is recorded in `inbox`.
 *
 * `MalloryChannel` keeps her side of one ledger channel with an honest party: the params, the newest
 * state both signed (her evidence), and older ones she may register on chain later.
 */
import { randomBytes } from "node:crypto";
import { EthChain } from "../../src/chain/chain-port.js";
import { devKey } from "../../src/chain/embedded.js";
import { channelId, fundingId } from "../../src/channel/hash.js";
import { signState } from "../../src/channel/sig.js";
import { privateKeyToSigner, type Signer } from "../../src/channel/signer.js";
import type { Address, Asset, Hex, Params, State } from "../../src/channel/types.js";
import { ZERO_ADDRESS } from "../../src/channel/types.js";
import type { ChannelProposalMsg, Inbound, WireMsg } from "../../src/wire/messages.js";
import type { Transport } from "../../src/wire/transport.js";
import { until, type World } from "../client/harness.js";

export interface Mallory {
  readonly name: string;
  readonly key: Hex;
  readonly signer: Signer;
  readonly address: Address;
  readonly transport: Transport;
  /** Every message that reached her, in order. */
  readonly inbox: Inbound[];
  readonly chain: EthChain;
  send(to: Address, msg: WireMsg): Promise<void>;
  /** The first message from `from` after inbox index `since` that satisfies `pred`. */
  receive(from: Address, pred: (m: WireMsg) => boolean, since?: number, ms?: number): Promise<WireMsg>;
  sign(state: State): Hex;
  close(): Promise<void>;
}

/** Mallory with dev key `index` on `w`'s current network. */
export function mallory(w: World, index: number, name = "Mallory"): Mallory {
  const key = devKey(index);
  const signer = privateKeyToSigner(key);
  const transport = w.net.transport(signer);
  const inbox: Inbound[] = [];
  transport.onMessage((m) => inbox.push(m));
  return {
    name,
    key,
    signer,
    address: signer.address,
    transport,
    inbox,
    chain: new EthChain(w.conn, w.adjudicator, key),
    send: (to, msg) => transport.send(to, msg),
    async receive(from, pred, since = 0, ms = 8_000) {
      let found: WireMsg | undefined;
      await until(
        () => {
          found = inbox.slice(since).find((m) => same(m.from, from) && pred(m.msg))?.msg;
          return found !== undefined;
        },
        ms,
        `a message from ${from} to ${name}`,
      );
      return found as WireMsg;
    },
    sign: (state) => signState(state, signer),
    close: () => transport.close(),
  };
}

export function randomHex32(): Hex {
  return `0x${randomBytes(32).toString("hex")}`;
}

export interface LedgerDraft {
  readonly params: Params;
  readonly initial: State;
  readonly msg: ChannelProposalMsg;
}

/** A ledger channel proposal from `m` (participant 0) to `to`, with whatever parameters the test picks. */
export function ledgerProposal(
  m: Mallory,
  to: Address,
  opts: {
    assets: readonly Asset[];
    /** [Mallory's, the victim's] per asset. */
    balances: readonly (readonly [bigint, bigint])[];
    challengeDuration?: bigint;
    fundingTimeout?: bigint;
    app?: Address;
  },
): LedgerDraft {
  const params: Params = {
    challengeDuration: opts.challengeDuration ?? 60n,
    nonce: BigInt(randomHex32()),
    participants: [
      { ethAddress: m.address, ccAddress: "0x" },
      { ethAddress: to, ccAddress: "0x" },
    ],
    app: opts.app ?? ZERO_ADDRESS,
    ledgerChannel: true,
    virtualChannel: false,
  };
  const initial = initialState(params, opts.assets, opts.balances);
  const msg: ChannelProposalMsg = {
    type: "channelProposal",
    proposalID: randomHex32(),
    params,
    initial,
    sig: m.sign(initial),
    fundingTimeout: opts.fundingTimeout ?? 600n,
  };
  return { params, initial, msg };
}

export function initialState(
  params: Params,
  assets: readonly Asset[],
  balances: readonly (readonly bigint[])[],
): State {
  // The id is what the contracts hash: computed by the core, as any peer would.
  return {
    channelID: channelId(params),
    version: 0n,
    outcome: { assets, backends: assets.map(() => 0n), balances: balances.map((r) => [...r]), locked: [] },
    appData: "0x",
    isFinal: false,
  };
}

/**
 * Mallory's side of a ledger channel with `peer` (she is participant `idx`): the newest state both
 * signed, every older one (for stale registrations), and proposals she makes and waits for.
 */
export class MalloryChannel {
  /** Fully signed states, oldest first. */
  readonly history: { state: State; sigs: Hex[] }[] = [];

  constructor(
    readonly m: Mallory,
    readonly peer: Address,
    readonly params: Params,
    readonly idx: number,
  ) {}

  get id(): Hex {
    return channelId(this.params);
  }

  get latest(): { state: State; sigs: Hex[] } {
    const last = this.history[this.history.length - 1];
    if (!last) throw new Error("no fully signed state yet");
    return last;
  }

  /** Records a state signed by both (ours and the peer's signature). */
  signedByBoth(state: State, peerSig: Hex): void {
    const sigs: Hex[] = [];
    sigs[this.idx] = this.m.sign(state);
    sigs[1 - this.idx] = peerSig;
    this.history.push({ state, sigs });
  }

  /**
   * Proposes `next` (signed by Mallory) and waits for the peer's answer: its signature (the state is
   * then recorded), or the reason of its refusal.
   */
  async propose(next: State, ms = 8_000): Promise<{ signed: true } | { signed: false; reason: string }> {
    const since = this.m.inbox.length;
    await this.m.send(this.peer, {
      type: "update",
      channelID: this.id,
      from: this.idx,
      state: next,
      sig: this.m.sign(next),
    });
    const answer = await this.m.receive(
      this.peer,
      (x) =>
        ((x.type === "updateAccept" || x.type === "updateReject") &&
          x.channelID === this.id &&
          x.version === next.version) ||
        (x.type === "error" && x.channelID === this.id),
      since,
      ms,
    );
    if (answer.type === "updateAccept") {
      this.signedByBoth(next, answer.sig);
      return { signed: true };
    }
    return { signed: false, reason: "reason" in answer ? answer.reason : "" };
  }

  /** Deposits Mallory's share of the initial state. */
  async deposit(asset: Asset, amount: bigint): Promise<void> {
    await this.m.chain.deposit(asset, fundingId(this.id, this.m.address), amount);
  }
}

function same(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}
