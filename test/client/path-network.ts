/**
 * Networks of intermediaries for client tests. A path: Alice - I1 - ... - In - Bob, a funded ledger channel
 * (5 ETH a side) between each neighbour, challenge durations given per ledger channel (decreasing
 * towards Bob by the intermediaries' margin, so that each can learn its right lock's fate before a
 * dispute of its left channel ends).
 */
import { parseEther } from "viem";
import type { AppDefinition } from "../../src/channel/app.js";
import type { RentalTerms } from "../../src/channel/fees.js";
import type { Hex } from "../../src/channel/types.js";
import type { ClientOptions } from "../../src/client/client.js";
import { type Party, until, type World } from "./harness.js";

export interface PathNet {
  readonly alice: Party;
  readonly hubs: Party[];
  readonly bob: Party;
  /** Alice-I1, I1-I2, ..., In-Bob. */
  readonly ledgers: Hex[];
}

export async function pathNetwork(
  w: World,
  hubTerms: readonly RentalTerms[],
  durations: readonly bigint[],
): Promise<PathNet> {
  const five = parseEther("5");
  const alice = await w.party("Alice", 1);
  const bob = await w.party("Bob", 2);
  const hubs = await Promise.all(
    hubTerms.map((t, i) => w.party(`I${i + 1}`, 3 + i, { options: { intermediary: { terms: t } } })),
  );
  const members = [alice, ...hubs, bob];
  const ledgers: Hex[] = [];
  for (let k = 0; k + 1 < members.length; k++) {
    const left = members[k] as Party;
    const right = members[k + 1] as Party;
    const id = await left.client.openChannel({
      peer: right.address,
      assets: [w.eth],
      balances: [[five, five]],
      challengeDuration: durations[k] as bigint,
    });
    await until(
      () => right.client.channel(id).phase === "Acting" && left.client.channel(id).phase === "Acting",
      10_000,
      `ledger ${k} open`,
    );
    ledgers.push(id);
  }
  return { alice, hubs, bob, ledgers };
}

/** Alice and Bob, each with a funded ledger channel (5 ETH a side) with the intermediary Ingrid. */
export interface HubNet {
  readonly alice: Party;
  readonly ingrid: Party;
  readonly bob: Party;
  /** Alice-Ingrid and Bob-Ingrid. */
  readonly l1: Hex;
  readonly l2: Hex;
}

export async function hubNetwork(
  w: World,
  terms: RentalTerms,
  opts: {
    readonly alice?: ClientOptions;
    readonly ingrid?: ClientOptions;
    /** The apps Ingrid plays (default: the harness's). */
    readonly ingridApps?: ReadonlyMap<string, AppDefinition>;
  } = {},
): Promise<HubNet> {
  const five = parseEther("5");
  const alice = await w.party("Alice", 1, { options: opts.alice ?? {} });
  const bob = await w.party("Bob", 2);
  const ingrid = await w.party("Ingrid", 3, {
    options: { intermediary: { terms }, ...opts.ingrid },
    ...(opts.ingridApps === undefined ? {} : { apps: opts.ingridApps }),
  });
  const l1 = await alice.client.openChannel({
    peer: ingrid.address,
    assets: [w.eth],
    balances: [[five, five]],
  });
  const l2 = await bob.client.openChannel({
    peer: ingrid.address,
    assets: [w.eth],
    balances: [[five, five]],
  });
  await until(
    () => ingrid.client.channel(l1).phase === "Acting" && ingrid.client.channel(l2).phase === "Acting",
  );
  return { alice, ingrid, bob, l1, l2 };
}
