/**
 * A path of intermediaries for client tests: Alice - I1 - ... - In - Bob, a funded ledger channel
 * (5 ETH a side) between each neighbour, challenge durations given per ledger channel (decreasing
 * towards Bob by the intermediaries' margin, so that each can learn its right lock's fate before a
 * dispute of its left channel ends).
 */
import { parseEther } from "viem";
import type { RentalTerms } from "../../src/channel/fees.js";
import type { Hex } from "../../src/channel/types.js";
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
