/**
 * Persist before acting (house style rule 5) when the store commits later than it is written to
 * (group commit, a database server): the client's transport and chain, wrapped so that every message
 * and every transaction waits for `store.durable()` first. A crash can then lose only writes that
 * nobody outside the process has heard of. With a store that commits on every write it costs one
 * resolved promise per message.
 */
import type { ChainPort } from "../chain/chain-port.js";
import type { Store } from "../store/store.js";
import type { Transport } from "../wire/transport.js";
import type { ClientDeps } from "./types.js";

export function durableFirst(deps: ClientDeps): ClientDeps {
  return {
    ...deps,
    transport: transportAfter(deps.transport, deps.store),
    chain: chainAfter(deps.chain, deps.store),
  };
}

function transportAfter(t: Transport, store: Store): Transport {
  return {
    address: t.address,
    send: async (peer, msg) => {
      await store.durable();
      return t.send(peer, msg);
    },
    addPeer: (peer, url) => t.addPeer(peer, url),
    onMessage: (h) => t.onMessage(h),
    onPeerConnected: (h) => t.onPeerConnected(h),
    close: () => t.close(),
  };
}

/**
 * Every call (reads too: a read may be what decides a write) waits for the store; the ChainPort's
 * methods are all asynchronous, and a method added to it later is covered without a change here.
 */
function chainAfter(chain: ChainPort, store: Store): ChainPort {
  return new Proxy(chain, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      return async (...args: unknown[]) => {
        await store.durable();
        return v.apply(target, args);
      };
    },
  });
}
