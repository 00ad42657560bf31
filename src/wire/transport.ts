/**
 * The Transport port: how a client reaches its peers (design.md section 2).
 * Implementations: WebSocket between processes (./ws-transport.ts) and an
 * in-process bus for fast unit tests (./memory-transport.ts); both pass the
 * shared suite in ./transport.suite.ts.
 */
import type { Address } from "../channel/types.js";
import type { Inbound, WireMsg } from "./messages.js";

export interface Transport {
  /** Our own address (the one our handshake proves). */
  readonly address: Address;
  /**
   * Sends `msg` to `peer`, connecting first if needed (to the URL registered with
   * `addPeer`, or reusing an inbound connection from that peer). Rejects with a
   * typed error if the peer is unknown or unreachable.
   */
  send(peer: Address, msg: WireMsg): Promise<void>;
  /** Where to dial `peer` (e.g. ws://127.0.0.1:4001). */
  addPeer(peer: Address, url: string): void;
  /** Every valid inbound message; invalid ones are logged and dropped before reaching this. */
  onMessage(handler: (inbound: Inbound) => void): void;
  /** A connection to `peer` came up (after the handshake): time to re-sync channels with it. */
  onPeerConnected(handler: (peer: Address) => void): void;
  close(): Promise<void>;
}
