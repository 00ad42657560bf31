/**
 * Typed errors of the wire layer (design.md section 6; house style rule 7).
 *
 * One subclass of `PerunError` per failure a transport user can meet: a frame that does not decode,
 * a frame that is too big, a handshake that does not prove the peer, a peer we cannot reach.
 */
import { describe, PerunError } from "../errors.js";

/** A frame from a peer (or a message we were asked to send) does not match the wire schema. */
export class MalformedMessageError extends PerunError {
  /** Path of the offending field, e.g. `update.state.outcome.balances[0][1]`. */
  readonly field: string;
  constructor(field: string, expected: string, got: unknown, cause?: unknown) {
    super("MALFORMED_MESSAGE", `Malformed message at ${field}: expected ${expected}, got ${describe(got)}.`, {
      details: { field, expected, got: describe(got) },
      hint: "Drop the frame: an honest peer running the same codec version never sends it.",
      ...(cause === undefined ? {} : { cause }),
    });
    this.field = field;
  }
}

/** A frame is bigger than the transport accepts; it is rejected before it is parsed. */
export class OversizedMessageError extends PerunError {
  readonly size: number;
  readonly max: number;
  constructor(size: number, max: number) {
    super("OVERSIZED_MESSAGE", `Frame of ${size} bytes exceeds the limit of ${max} bytes.`, {
      details: { size, max },
      hint: "Split the data or raise maxFrameBytes on both ends.",
    });
    this.size = size;
    this.max = max;
  }
}

/** The peer did not prove its address, or proved another one than we dialed. */
export class HandshakeError extends PerunError {
  readonly reason: string;
  constructor(reason: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super("HANDSHAKE_FAILED", `Wire handshake failed: ${reason}.`, {
      details: { reason, ...details },
      hint: "Check that the URL registered with addPeer belongs to that address and both ends run the same version.",
      ...(cause === undefined ? {} : { cause }),
    });
    this.reason = reason;
  }
}

/** We have neither a connection to `peer` nor a URL to dial it. */
export class UnknownPeerError extends PerunError {
  readonly peer: string;
  constructor(peer: string) {
    super("UNKNOWN_PEER", `No connection to ${peer} and no URL to dial it.`, {
      details: { peer },
      hint: "Register the peer's URL with transport.addPeer(address, url), or wait for it to connect to us.",
    });
    this.peer = peer;
  }
}

/** Dialing `peer` failed or did not complete the handshake in time. */
export class PeerUnreachableError extends PerunError {
  readonly peer: string;
  constructor(peer: string, reason: string, cause?: unknown) {
    super("PEER_UNREACHABLE", `Cannot reach ${peer}: ${reason}.`, {
      details: { peer, reason },
      hint: "Check that the peer is running and listening at the URL registered with addPeer; sending again redials.",
      ...(cause === undefined ? {} : { cause }),
    });
    this.peer = peer;
  }
}

/** The transport was closed; nothing more is sent or received. */
export class TransportClosedError extends PerunError {
  constructor() {
    super("TRANSPORT_CLOSED", "The transport is closed.", {
      hint: "Create a new transport; a closed one cannot be reopened.",
    });
  }
}
