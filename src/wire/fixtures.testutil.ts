/**
 * Test-only fixtures of the wire layer: signers and one valid message of each type (not exported by
 * index.ts).
 */
import { testKey, twoPartyChannel } from "../channel/arbitraries.testutil.js";
import type { Signer } from "../channel/signer.js";
import { privateKeyToSigner } from "../channel/signer.js";
import type { Hex } from "../channel/types.js";
import type { UpdateMsg, WireMsg } from "./messages.js";

export const SIG: Hex = `0x${"11".repeat(64)}1b`;
export const ID: Hex = `0x${"ab".repeat(32)}`;

export function signers(): { alice: Signer; bob: Signer; carol: Signer; mallory: Signer } {
  return {
    alice: privateKeyToSigner(testKey("perun-ts alice")),
    bob: privateKeyToSigner(testKey("perun-ts bob")),
    carol: privateKeyToSigner(testKey("perun-ts carol")),
    mallory: privateKeyToSigner(testKey("perun-ts mallory")),
  };
}

// Built once: it derives two keys and hashes the params, far slower than sending a message.
const channel = twoPartyChannel();

/** An update of the two-party test channel to `version` (signature is a placeholder). */
export function updateMsg(version: bigint, appData: Hex = "0x"): UpdateMsg {
  const init = channel.init;
  return {
    type: "update",
    channelID: init.channelID,
    from: 0,
    state: { ...init, version, appData },
    sig: SIG,
  };
}

/** One valid message of every type. */
export function sampleMessages(): WireMsg[] {
  const { params, init } = channel;
  return [
    { type: "channelProposal", proposalID: ID, params, initial: init, sig: SIG, fundingTimeout: 3600n },
    { type: "channelAccept", proposalID: ID, channelID: init.channelID, sig: SIG },
    { type: "channelReject", proposalID: ID, reason: "busy" },
    updateMsg(1n),
    { type: "updateAccept", channelID: init.channelID, from: 1, version: 1n, sig: SIG },
    { type: "updateReject", channelID: init.channelID, from: 1, version: 1n, reason: "no" },
    { type: "sync", channelID: init.channelID, state: init, sigs: [SIG, SIG] },
    { type: "error", reason: "unknown channel", channelID: init.channelID },
    { type: "error", reason: "" },
  ];
}
