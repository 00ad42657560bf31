/**
 * The chain as the client sees it (design.md section 2: the Adjudicator and
 * Funder ports in one small object): deposit, read holdings, register,
 * conclude (also paying out at once), withdraw, read the dispute record and
 * follow ChannelUpdate events.
 * `EthChain` implements it with the contract bindings of this folder; any
 * EVM chain reachable through a ChainConnection works.
 */
import { type Abi, decodeEventLog, decodeFunctionData } from "viem";
import type { Asset, Hex, Params, State, WithdrawalAuth } from "../channel/types.js";
import { type ChannelUpdateEvent, type Dispute, EthAdjudicator, type SignedState } from "./adjudicator.js";
import { EthAssetHolder } from "./asset-holder.js";
import type { ChainConnection } from "./connection.js";
import { AdjudicatorAbi, AssetHolderERC20Abi } from "./generated/index.js";

export type { ChannelUpdateEvent, Dispute, SignedState };

export interface ChainPort {
  readonly chainId: number;
  readonly adjudicatorAddress: Hex;
  /** Chain time: timestamp of the latest block (seconds). */
  now(): Promise<bigint>;
  blockNumber(): Promise<bigint>;
  deposit(asset: Asset, fundingID: Hex, amount: bigint): Promise<void>;
  holdings(asset: Asset, fundingID: Hex): Promise<bigint>;
  register(channel: SignedState, subChannels?: readonly SignedState[]): Promise<void>;
  /** Adjudicator.progress: one move of an app channel in dispute, `to` signed by participant `actorIdx`. */
  progress(params: Params, from: State, to: State, actorIdx: number, sig: Hex): Promise<void>;
  conclude(params: Params, state: State, subStates?: readonly State[]): Promise<void>;
  concludeFinal(params: Params, state: State, sigs: readonly Hex[]): Promise<void>;
  /**
   * concludeFinal, and every participant is paid its outcome in the same transaction (a payment
   * that fails stays in the holdings, to withdraw). Only for final states that lock no sub-channels.
   */
  concludeFinalAndPayout(params: Params, state: State, sigs: readonly Hex[]): Promise<void>;
  withdraw(asset: Asset, auth: WithdrawalAuth, sig: Hex): Promise<void>;
  dispute(channelID: Hex): Promise<Dispute | undefined>;
  /** ChannelUpdate events in blocks [fromBlock, toBlock]. */
  channelUpdates(fromBlock: bigint, toBlock: bigint): Promise<ChannelUpdateEvent[]>;
  /**
   * The signed states a `register` or `progress` transaction put on chain (the channel and its
   * sub-channels), read from its calldata: how a watcher learns a state it never saw off-chain.
   */
  registeredStates(txHash: Hex): Promise<SignedState[]>;
  /**
   * The states the `progress` calls of transaction `txHash` moved channel `channelID` to, in order, from
   * the Adjudicator's `Progressed` events (whether the calls came directly or through a contract).
   */
  progressedStates(txHash: Hex, channelID: Hex): Promise<State[]>;
  /**
   * The states transaction `txHash` registered virtual channels with, from the Adjudicator's
   * `VirtualRegistered` events (whether the call came directly or through a contract).
   */
  registeredVirtualStates(txHash: Hex): Promise<{ channelID: Hex; state: State }[]>;
}

/** ChainPort over a ChainConnection, paying gas with `key`. */
export class EthChain implements ChainPort {
  readonly chainId: number;
  private readonly adjudicator: EthAdjudicator;
  private readonly holders = new Map<string, Promise<EthAssetHolder>>();

  constructor(
    private readonly conn: ChainConnection,
    readonly adjudicatorAddress: Hex,
    private readonly key: Hex,
  ) {
    this.chainId = conn.chainId;
    this.adjudicator = new EthAdjudicator(conn, adjudicatorAddress, key);
  }

  async now(): Promise<bigint> {
    return (await this.conn.publicClient.getBlock({ blockTag: "latest" })).timestamp;
  }

  blockNumber(): Promise<bigint> {
    return this.conn.publicClient.getBlockNumber({ cacheTime: 0 });
  }

  async deposit(asset: Asset, fundingID: Hex, amount: bigint): Promise<void> {
    await (await this.holder(asset)).deposit(this.key, fundingID, amount);
  }

  async holdings(asset: Asset, fundingID: Hex): Promise<bigint> {
    return (await this.holder(asset)).holdings(fundingID);
  }

  async register(channel: SignedState, subChannels: readonly SignedState[] = []): Promise<void> {
    await this.adjudicator.register(channel, subChannels);
  }

  async progress(params: Params, from: State, to: State, actorIdx: number, sig: Hex): Promise<void> {
    await this.adjudicator.progress(params, from, to, actorIdx, sig);
  }

  async conclude(params: Params, state: State, subStates: readonly State[] = []): Promise<void> {
    await this.adjudicator.conclude(params, state, subStates);
  }

  async concludeFinal(params: Params, state: State, sigs: readonly Hex[]): Promise<void> {
    await this.adjudicator.concludeFinal(params, state, sigs);
  }

  async concludeFinalAndPayout(params: Params, state: State, sigs: readonly Hex[]): Promise<void> {
    await this.adjudicator.concludeFinalAndPayout(params, state, sigs);
  }

  async withdraw(asset: Asset, auth: WithdrawalAuth, sig: Hex): Promise<void> {
    await (await this.holder(asset)).withdraw(this.key, auth, sig);
  }

  dispute(channelID: Hex): Promise<Dispute | undefined> {
    return this.adjudicator.dispute(channelID);
  }

  channelUpdates(fromBlock: bigint, toBlock: bigint): Promise<ChannelUpdateEvent[]> {
    return this.adjudicator.channelUpdates(fromBlock, undefined, toBlock);
  }

  async progressedStates(txHash: Hex, channelID: Hex): Promise<State[]> {
    return (await this.events(txHash, "Progressed"))
      .map((a) => a as { channelID: Hex; state: State })
      .filter((a) => a.channelID.toLowerCase() === channelID.toLowerCase())
      .map((a) => a.state);
  }

  async registeredVirtualStates(txHash: Hex): Promise<{ channelID: Hex; state: State }[]> {
    return (await this.events(txHash, "VirtualRegistered")).map((a) => {
      const { channelID, state } = a as { channelID: Hex; state: State };
      return { channelID, state };
    });
  }

  /** The arguments of the Adjudicator's events named `name` in transaction `txHash`, in order. */
  private async events(txHash: Hex, name: string): Promise<unknown[]> {
    const receipt = await this.conn.publicClient.getTransactionReceipt({ hash: txHash });
    const out: unknown[] = [];
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() !== this.adjudicatorAddress.toLowerCase()) continue;
      try {
        const ev = decodeEventLog({ abi: AdjudicatorAbi, data: log.data, topics: log.topics });
        if (ev.eventName === name) out.push(ev.args);
      } catch {
        // an event of another ABI
      }
    }
    return out;
  }

  async registeredStates(txHash: Hex): Promise<SignedState[]> {
    const tx = await this.conn.publicClient.getTransaction({ hash: txHash });
    if (!tx.to || tx.to.toLowerCase() !== this.adjudicatorAddress.toLowerCase()) return [];
    try {
      const call = decodeFunctionData({ abi: AdjudicatorAbi, data: tx.input });
      if (call.functionName === "register") {
        const [channel, subs] = call.args as unknown as [SignedState, readonly SignedState[]];
        return [channel, ...subs];
      }
    } catch {
      // not a call we know: nothing to learn from it
    }
    return [];
  }

  /** The binding for an asset's holder; ERC20 holders are told apart by their `token()`. */
  private holder(asset: Asset): Promise<EthAssetHolder> {
    const addr = asset.ethHolder.toLowerCase();
    let h = this.holders.get(addr);
    if (!h) {
      h = this.conn.publicClient
        .readContract({ address: asset.ethHolder, abi: AssetHolderERC20Abi as Abi, functionName: "token" })
        .then(
          (token) => new EthAssetHolder(this.conn, asset.ethHolder, token as Hex),
          () => new EthAssetHolder(this.conn, asset.ethHolder),
        );
      this.holders.set(addr, h);
    }
    return h;
  }
}
