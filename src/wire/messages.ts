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

export type WireMsg =
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
