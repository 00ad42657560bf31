/**
 * Messages between peers (design.md section 6), as plain data. The codec
 * (./codec.ts) turns them into versioned frames and back, validating every
 * field; signatures inside are checked by the client before use.
 */
import type { Address, Hex, Params, State } from "../channel/types.js";

/** Open a ledger channel: the proposer's params and initial state, signed by the proposer. */
export interface ChannelProposalMsg {
  readonly type: "channelProposal";
  /** Random id chosen by the proposer; answers refer to it. */
  readonly proposalID: Hex;
  readonly params: Params;
  readonly initial: State;
  /** Proposer's signature on `initial` (version 0). */
  readonly sig: Hex;
  /** Seconds each party has to deposit after acceptance. */
  readonly fundingTimeout: bigint;
}

export interface ChannelAcceptMsg {
  readonly type: "channelAccept";
  readonly proposalID: Hex;
  readonly channelID: Hex;
  /** Responder's signature on the initial state. */
  readonly sig: Hex;
}

export interface ChannelRejectMsg {
  readonly type: "channelReject";
  readonly proposalID: Hex;
  readonly reason: string;
}

/** A proposed update (or initial state) of channel `channelID`, signed by participant `from`. */
export interface UpdateMsg {
  readonly type: "update";
  readonly channelID: Hex;
  readonly from: number;
  readonly state: State;
  readonly sig: Hex;
}

export interface UpdateAcceptMsg {
  readonly type: "updateAccept";
  readonly channelID: Hex;
  readonly from: number;
  readonly version: bigint;
  readonly sig: Hex;
}

export interface UpdateRejectMsg {
  readonly type: "updateReject";
  readonly channelID: Hex;
  readonly from: number;
  readonly version: bigint;
  readonly reason: string;
}

/**
 * Re-sync after a reconnect or restart: our latest fully signed state of the
 * channel (one signature per participant). The receiver adopts it if it is newer
 * than its own and every signature checks out.
 */
export interface SyncMsg {
  readonly type: "sync";
  readonly channelID: Hex;
  readonly state: State;
  readonly sigs: readonly Hex[];
}

/** Something went wrong with a message we sent (malformed, stale, unknown channel). */
export interface ErrorMsg {
  readonly type: "error";
  readonly reason: string;
  readonly channelID?: Hex;
}

/**
 * Virtual channel V over a path [Alice, Ingrid, Bob] (design.md section 5): Alice proposes V to Bob
 * (`virtualProposal`, with her signature on V's initial state), and each end hands the intermediary
 * the same context (`virtualFunding`, with both signatures) before proposing its lock in its ledger
 * channel with her.
 */
export interface VirtualProposalMsg {
  readonly type: "virtualProposal";
  readonly proposalID: Hex;
  /** [Alice, intermediaries..., Bob]. */
  readonly path: readonly Address[];
  /** Ledger channel ids along the path: ledgerIDs[k] joins path[k] and path[k+1]. */
  readonly ledgerIDs: readonly Hex[];
  readonly params: Params;
  readonly initial: State;
  readonly sig: Hex;
  /** fees[k][asset]: what intermediary path[k+1] charges. */
  readonly fees: readonly (readonly bigint[])[];
  /** Chain time after which an intermediary may close V. */
  readonly expiry: bigint;
}

export interface VirtualAcceptMsg {
  readonly type: "virtualAccept";
  readonly proposalID: Hex;
  readonly sig: Hex;
}

export interface VirtualRejectMsg {
  readonly type: "virtualReject";
  readonly proposalID: Hex;
  readonly reason: string;
}

/** V's context for an intermediary: its params, initial state signed by both ends, path and fees. */
export interface VirtualFundingMsg {
  readonly type: "virtualFunding";
  readonly path: readonly Address[];
  readonly ledgerIDs: readonly Hex[];
  readonly params: Params;
  readonly initial: State;
  readonly sigs: readonly Hex[];
  readonly fees: readonly (readonly bigint[])[];
  readonly expiry: bigint;
}

/** V's final state signed by both ends: lets an intermediary accept the unlock in a ledger channel. */
export interface VirtualFinalMsg {
  readonly type: "virtualFinal";
  readonly params: Params;
  readonly state: State;
  readonly sigs: readonly Hex[];
}

export type WireMsg =
  | VirtualProposalMsg
  | VirtualAcceptMsg
  | VirtualRejectMsg
  | VirtualFundingMsg
  | VirtualFinalMsg
  | ChannelProposalMsg
  | ChannelAcceptMsg
  | ChannelRejectMsg
  | UpdateMsg
  | UpdateAcceptMsg
  | UpdateRejectMsg
  | SyncMsg
  | ErrorMsg;

export type WireMsgType = WireMsg["type"];

/** A message as it arrived: `from` is the peer's address proven in the handshake, never a claim in the body. */
export interface Inbound {
  readonly from: Address;
  readonly msg: WireMsg;
}
