/**
 * Binding of the Adjudicator contract: register (with sub-channels), progress,
 * conclude, concludeFinal, concludeFinalAndPayout, the dispute record and its
 * ChannelUpdate events.
 */
import type { Abi, TransactionReceipt } from "viem";
import type { Address, Hex, Params, State } from "../channel/types.js";
import type { ChainConnection } from "./connection.js";
import { AdjudicatorAbi } from "./generated/index.js";
import { transact } from "./transact.js";

/** Phases of a dispute record on chain (Adjudicator.DisputePhase). */
export const DisputePhase = { DISPUTE: 0, FORCEEXEC: 1, CONCLUDED: 2 } as const;
export type DisputePhaseValue = (typeof DisputePhase)[keyof typeof DisputePhase];

export interface SignedState {
  readonly params: Params;
  readonly state: State;
  readonly sigs: readonly Hex[];
}

export interface Dispute {
  readonly timeout: bigint;
  readonly challengeDuration: bigint;
  readonly version: bigint;
  readonly hasApp: boolean;
  readonly phase: number;
  readonly stateHash: Hex;
}

export interface ChannelUpdateEvent {
  readonly channelID: Hex;
  readonly version: bigint;
  readonly phase: number;
  readonly timeout: bigint;
  readonly blockNumber: bigint;
  readonly transactionHash: Hex;
}

const abi = AdjudicatorAbi as Abi;

export class EthAdjudicator {
  constructor(
    readonly conn: ChainConnection,
    readonly address: Address,
    /** Key that pays for the transactions (any account may send them). */
    readonly key: Hex,
  ) {}

  register(channel: SignedState, subChannels: readonly SignedState[] = []): Promise<TransactionReceipt> {
    return this.send("register", [channel, subChannels]);
  }

  progress(
    params: Params,
    stateOld: State,
    state: State,
    actorIdx: number,
    sig: Hex,
  ): Promise<TransactionReceipt> {
    return this.send("progress", [params, stateOld, state, BigInt(actorIdx), sig]);
  }

  conclude(params: Params, state: State, subStates: readonly State[] = []): Promise<TransactionReceipt> {
    return this.send("conclude", [params, state, subStates]);
  }

  concludeFinal(params: Params, state: State, sigs: readonly Hex[]): Promise<TransactionReceipt> {
    return this.send("concludeFinal", [params, state, sigs]);
  }

  /**
   * concludeFinal that also pays every participant its outcome in the same transaction (ours only,
   * not in perun-eth-contracts v1.0.0). A payment that fails stays in the holdings, to withdraw.
   * A final state that locks sub-channels is refused, as by concludeFinal.
   *
   * @example
   * await adjudicator.concludeFinalAndPayout(params, finalState, [sigAlice, sigBob]);
   */
  concludeFinalAndPayout(params: Params, state: State, sigs: readonly Hex[]): Promise<TransactionReceipt> {
    return this.send("concludeFinalAndPayout", [params, state, sigs]);
  }

  /** The dispute record, or undefined when the channel was never registered or concluded on chain. */
  async dispute(channelID: Hex): Promise<Dispute | undefined> {
    const r = (await this.conn.publicClient.readContract({
      address: this.address,
      abi,
      functionName: "disputes",
      args: [channelID],
    })) as readonly [bigint, bigint, bigint, number, Hex, boolean];
    // v1.0.0 output order (perun-eth-backend decodes by position): phase, stateHash, hasApp last.
    const [timeout, challengeDuration, version, phase, stateHash, hasApp] = r;
    if (timeout === 0n) return undefined;
    return { timeout, challengeDuration, version, hasApp, phase, stateHash };
  }

  async channelID(params: Params): Promise<Hex> {
    return (await this.conn.publicClient.readContract({
      address: this.address,
      abi,
      functionName: "channelID",
      args: [params],
    })) as Hex;
  }

  async hashState(state: State): Promise<Hex> {
    return (await this.conn.publicClient.readContract({
      address: this.address,
      abi,
      functionName: "hashState",
      args: [state],
    })) as Hex;
  }

  /** ChannelUpdate events of `channelID` (or all channels) in blocks [fromBlock, toBlock ?? latest]. */
  async channelUpdates(fromBlock: bigint, channelID?: Hex, toBlock?: bigint): Promise<ChannelUpdateEvent[]> {
    const logs = await this.conn.publicClient.getContractEvents({
      address: this.address,
      abi: AdjudicatorAbi,
      eventName: "ChannelUpdate",
      fromBlock,
      ...(toBlock === undefined ? {} : { toBlock }),
      ...(channelID === undefined ? {} : { args: { channelID } }),
    });
    return logs.map((l) => {
      const a = l.args as { channelID: Hex; version: bigint; phase: number; timeout: bigint };
      return {
        channelID: a.channelID,
        version: a.version,
        phase: a.phase,
        timeout: a.timeout,
        blockNumber: l.blockNumber,
        transactionHash: l.transactionHash,
      };
    });
  }

  private send(functionName: string, args: readonly unknown[]): Promise<TransactionReceipt> {
    return transact(this.conn, this.key, { address: this.address, abi, functionName, args });
  }
}
