/** Errors of the client layer: what went wrong with a channel operation and what to do. */
import type { Hex } from "../channel/types.js";
import { PerunError } from "../errors.js";

export class UnknownChannelError extends PerunError {
  constructor(channelID: string) {
    super("UNKNOWN_CHANNEL", `No channel ${channelID} is known to this client.`, {
      details: { channelID },
      hint: "List the channels (`perun channels`) and use one of their ids.",
    });
  }
}

export class ProposalRejectedError extends PerunError {
  constructor(peer: string, reason: string) {
    super("PROPOSAL_REJECTED", `${peer} rejected the channel proposal: ${reason}.`, {
      details: { peer, reason },
    });
  }
}

export class UpdateRejectedError extends PerunError {
  constructor(channelID: Hex, version: bigint, reason: string) {
    super(
      "UPDATE_REJECTED",
      `The update to version ${version} of channel ${channelID} was not accepted: ${reason}.`,
      {
        details: { channelID, version: `${version}`, reason },
      },
    );
  }
}

export class PeerTimeoutError extends PerunError {
  constructor(what: string, peer: string, ms: number) {
    super("PEER_TIMEOUT", `No answer from ${peer} to ${what} within ${ms} ms.`, {
      details: { peer, ms },
      hint: "The peer may be offline. The channel stays safe: you can retry later or settle it by dispute.",
    });
  }
}

export class FundingTimeoutError extends PerunError {
  constructor(channelID: Hex, recovered: boolean) {
    super(
      "FUNDING_TIMEOUT",
      `Channel ${channelID} was not fully funded in time; ${recovered ? "our deposit was recovered on chain" : "nothing was deposited"}.`,
      { details: { channelID }, hint: "Open a new channel when the peer is ready to deposit." },
    );
  }
}

export class ChannelBusyError extends PerunError {
  constructor(channelID: Hex, phase: string) {
    super("CHANNEL_BUSY", `Channel ${channelID} cannot take this request in phase ${phase}.`, {
      details: { channelID, phase },
      hint: "Wait for the running update or settlement to finish, then retry.",
    });
  }
}

/** A ledger channel cannot be closed cooperatively while it still locks virtual channels. */
export class LockedFundsError extends PerunError {
  constructor(channelID: Hex, locked: readonly Hex[]) {
    super(
      "LOCKED_FUNDS",
      `Channel ${channelID} still locks ${locked.length} virtual channel(s); a final state must lock nothing.`,
      {
        details: { channelID, locked: locked.join(",") },
        hint: "Close the virtual channels first (they unlock into this channel), or close this one with force (a dispute that settles them on chain too).",
      },
    );
  }
}

/** Our proposal is void: the peer's concurrent proposal won, or a re-sync showed it was never signed. */
export class ProposalDroppedError extends PerunError {
  constructor(reason: string) {
    super("PROPOSAL_DROPPED", `Our proposal was dropped: ${reason}.`, { hint: "Retry on the new state." });
  }
}

/**
 * Our last update of a channel has not reached the peer (or the peer did not answer it): the channel
 * waits for it, and we deliver it again, with back-off, until the peer signs or refuses it.
 */
export class PeerOfflineError extends PerunError {
  constructor(channelID: Hex, peer: string) {
    super(
      "PEER_OFFLINE",
      `${peer} has not answered our last update of channel ${channelID}: it seems offline.`,
      {
        details: { channelID, peer },
        hint: "We keep delivering that update; the channel is usable again as soon as the peer is back. Its funds are safe meanwhile.",
      },
    );
  }
}

/** A move was asked for in a channel that runs no app we know. */
export class NotAnAppChannelError extends PerunError {
  constructor(channelID: Hex, app: string) {
    super(
      "NOT_AN_APP_CHANNEL",
      app === "0x0000000000000000000000000000000000000000"
        ? `Channel ${channelID} is a payment channel: it takes payments, not moves.`
        : `Channel ${channelID} runs the app at ${app}, which this client does not know.`,
      {
        details: { channelID, app },
        hint: "Open a channel with an app this node plays (its `apps` setting) to make moves in it.",
      },
    );
  }
}
