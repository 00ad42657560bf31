/**
 * In-process Transport (design.md section 6) for fast unit tests of the client: a bus connecting
 * transports by address. Messages still go through encodeMsg/decodeMsg, so what a test sends is
 * validated exactly as over a socket; delivery is asynchronous (a microtask) and in order per pair,
 * like a connection. `from` is the sending transport's address: on this bus the address is proven by
 * construction. Tests can disconnect and reconnect a node to exercise re-sync.
 */
import type { Signer } from "../channel/signer.js";
import type { Address } from "../channel/types.js";
import { InvalidArgumentError } from "../errors.js";
import { decodeMsg, encodeMsg, MAX_FRAME_BYTES } from "./codec.js";
import { PeerUnreachableError, TransportClosedError, UnknownPeerError } from "./errors.js";
import type { Logger } from "./log.js";
import type { Inbound, WireMsg } from "./messages.js";
import type { Transport } from "./transport.js";

export interface MemoryNetwork {
  /** A transport on this bus for `signerOrAddress` (one per address). */
  transport(signerOrAddress: Signer | Address): Transport;
  /** Takes a node off the bus: its sends reject, messages in flight to or from it are lost. */
  disconnect(address: Address): void;
  /** Puts a node back; it and every peer it was connected to see onPeerConnected again. */
  reconnect(address: Address): void;
}

interface Node {
  readonly address: Address;
  online: boolean;
  closed: boolean;
  readonly messageHandlers: ((inbound: Inbound) => void)[];
  readonly connectedHandlers: ((peer: Address) => void)[];
}

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Creates an empty in-process network.
 *
 * @example
 * const net = createMemoryNetwork();
 * const alice = net.transport(aliceSigner), bob = net.transport(bobSigner);
 * bob.onMessage(({ from, msg }) => ...);
 * await alice.send(bob.address, msg);
 */
export function createMemoryNetwork(options: { log?: Logger; maxFrameBytes?: number } = {}): MemoryNetwork {
  const log: Logger = options.log ?? (() => {});
  const maxFrameBytes = options.maxFrameBytes ?? MAX_FRAME_BYTES;
  const nodes = new Map<string, Node>();
  /**
   * Live links by "a|b" (lower-case, sorted) -> epoch. A message is delivered only if its link is
   * still in the epoch it was sent in, so a disconnect loses what was in flight, as a socket would.
   */
  const links = new Map<string, number>();
  /** Links cut by a disconnect, re-established by reconnect. */
  const cut = new Set<string>();
  let epoch = 0;

  const linkKey = (a: string, b: string): string => (a < b ? `${a}|${b}` : `${b}|${a}`);

  function connect(a: Node, b: Node, key: string): number {
    const e = ++epoch;
    links.set(key, e);
    // Asynchronous, and before any message of this link (microtasks run in order).
    queueMicrotask(() => {
      if (links.get(key) !== e) return;
      for (const h of a.connectedHandlers) call(h, b.address);
      for (const h of b.connectedHandlers) call(h, a.address);
    });
    return e;
  }

  /** A throwing handler must not break delivery to the others (same as over a socket). */
  function call<T>(handler: (x: T) => void, x: T): void {
    try {
      handler(x);
    } catch (e) {
      log("error", "wire: handler threw", { error: e instanceof Error ? e.message : String(e) });
    }
  }

  function node(address: Address): Node | undefined {
    return nodes.get(address.toLowerCase());
  }

  return {
    transport(signerOrAddress) {
      const address = typeof signerOrAddress === "string" ? signerOrAddress : signerOrAddress.address;
      const key = address.toLowerCase();
      if (nodes.has(key))
        throw new InvalidArgumentError("address", "an address not yet on this network", address);
      const self: Node = { address, online: true, closed: false, messageHandlers: [], connectedHandlers: [] };
      nodes.set(key, self);
      return {
        address,
        send(peer: Address, msg: WireMsg): Promise<void> {
          if (self.closed) return Promise.reject(new TransportClosedError());
          let frame: Uint8Array;
          try {
            frame = encodeMsg(msg, maxFrameBytes);
          } catch (e) {
            return Promise.reject(e);
          }
          const target = node(peer);
          if (target === undefined || target === self) return Promise.reject(new UnknownPeerError(peer));
          if (!self.online || !target.online || target.closed) {
            return Promise.reject(new PeerUnreachableError(peer, "the node is disconnected"));
          }
          const lk = linkKey(key, peer.toLowerCase());
          const e = links.get(lk) ?? connect(self, target, lk);
          queueMicrotask(() => {
            if (links.get(lk) !== e) return;
            let decoded: WireMsg;
            try {
              decoded = decodeMsg(frame, maxFrameBytes);
            } catch (err) {
              log("warn", "wire: dropped malformed message", { peer: address, reason: String(err) });
              return;
            }
            const inbound: Inbound = { from: address, msg: decoded };
            for (const h of target.messageHandlers) call(h, inbound);
          });
          return RESOLVED;
        },
        addPeer(): void {
          // Every node on the bus is reachable by address; there is nothing to dial.
        },
        onMessage(handler) {
          self.messageHandlers.push(handler);
        },
        onPeerConnected(handler) {
          self.connectedHandlers.push(handler);
        },
        async close(): Promise<void> {
          self.closed = true;
          dropLinks(key, false);
          nodes.delete(key);
        },
      };
    },
    disconnect(address) {
      const n = node(address);
      if (n === undefined) throw new UnknownPeerError(address);
      n.online = false;
      dropLinks(address.toLowerCase(), true);
    },
    reconnect(address) {
      const n = node(address);
      if (n === undefined) throw new UnknownPeerError(address);
      n.online = true;
      const key = address.toLowerCase();
      for (const lk of [...cut]) {
        const [x, y] = lk.split("|") as [string, string];
        if (x !== key && y !== key) continue;
        const a = nodes.get(x);
        const b = nodes.get(y);
        if (a === undefined || b === undefined || !a.online || !b.online) continue;
        cut.delete(lk);
        connect(a, b, lk);
      }
    },
  };

  function dropLinks(key: string, remember: boolean): void {
    for (const lk of [...links.keys()]) {
      const [x, y] = lk.split("|") as [string, string];
      if (x !== key && y !== key) continue;
      links.delete(lk);
      if (remember) cut.add(lk);
    }
  }
}
