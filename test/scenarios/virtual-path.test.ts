/**
 * A virtual channel over a path of three intermediaries across separate OS processes: one `perun
 * chain`, five `perun node`s (Alice, I1, I2, I3 with intermediary terms, Bob) over the WebSocket wire,
 * ledger channels Alice-I1, I1-I2, I2-I3, I3-Bob.
 *
 * 1. Alice opens V to Bob through I1, I2, I3 (no transaction), 1,000 payments over V leave every
 *    intermediary's ledger channels untouched, V closes into all four (no transaction), the ledger
 *    channels close on chain: every payout is exact, each intermediary nets exactly its fee.
 * 2. I2 is killed (-9) while it holds I1's lock and proposes its own, then restarted on its database:
 *    the locks end up all in place or none, and after everything is closed on chain every party got
 *    exactly what it should (its deposits, or its deposits moved by V and the fees).
 */
import { parseEther } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rentalFee } from "../../src/channel/fees.js";
import type { Address, Hex } from "../../src/channel/types.js";
import type { ApiChannel } from "../../src/node/api-client.js";
import { killAll, type NodeProcess } from "./processes.js";
import {
  crash,
  logLines,
  type NodeSpec,
  nodeSpec,
  runNode,
  type Scene,
  startScene,
  until,
} from "./scenario-helpers.js";

const FIVE = parseEther("5");
const ONE = parseEther("1");
const SECONDS = 3_600;
const TERMS = { baseFee: "1000000000000", ratePerSecondPerUnit: "1000000000", maxDurationSeconds: 86_400 };
/** What each intermediary asks for V (2 ETH for an hour), plus slack for the clock moving meanwhile. */
const FEE =
  rentalFee(
    { baseFee: 10n ** 12n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n },
    2n * ONE,
    BigInt(SECONDS),
  ) + 1_000n;
const PAYMENTS = 1_000;

let scene: Scene;
let specs: NodeSpec[]; // alice, i1, i2, i3, bob
let nodes: NodeProcess[];

beforeAll(async () => {
  scene = await startScene();
  specs = [
    await nodeSpec(scene, "alice", 1),
    await nodeSpec(scene, "i1", 3),
    await nodeSpec(scene, "i2", 4),
    await nodeSpec(scene, "i3", 5),
    await nodeSpec(scene, "bob", 2),
  ];
  for (const s of specs) {
    const peers = Object.fromEntries(specs.filter((o) => o !== s).map((o) => [o.address, o.wireUrl]));
    const hub = s.name.startsWith("i") ? { intermediary: TERMS } : {};
    s.config = { ...s.config, peers, ...hub };
  }
  nodes = await Promise.all(specs.map((s) => runNode(scene, s)));
}, 120_000);

afterAll(async () => {
  for (const n of nodes ?? []) n?.kill("SIGTERM");
  await Promise.allSettled((nodes ?? []).map((n) => n?.waitExit(10_000)));
  scene?.chain.kill("SIGTERM");
  await killAll();
});

const find = (list: ApiChannel[], id: Hex) => list.find((c) => c.channelID === id);

/** Opens the four ledger channels of the path (5 ETH each side); resolves once both sides see them funded. */
async function openPath(): Promise<Hex[]> {
  const ids = await Promise.all(
    [0, 1, 2, 3].map(async (k) => {
      const left = nodes[k] as NodeProcess;
      const right = nodes[k + 1] as NodeProcess;
      // Challenge durations decrease towards Bob by the intermediaries' margin (60 s): 180, 120, 60, 60.
      const challengeDuration = [180, 120, 60, 60][k] as number;
      return (
        await left.api.open({ peer: right.address, deposit: FIVE, peerDeposit: FIVE, challengeDuration })
      ).channelID;
    }),
  );
  for (const [k, id] of ids.entries()) {
    await until(
      async () =>
        (await (nodes[k] as NodeProcess).api.channel(id)).phase === "Acting" &&
        (await (nodes[k + 1] as NodeProcess).api.channel(id)).phase === "Acting",
      `ledger channel ${k} funded`,
      30_000,
    );
  }
  return ids;
}

function openV(ledgers: Hex[]) {
  const [alice, i1, i2, i3, bob] = nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess, NodeProcess];
  return alice.api.openVirtual({
    peer: bob.address,
    via: [i1.address, i2.address, i3.address],
    ledger: ledgers[0] as Hex,
    peerLedger: ledgers.slice(1),
    deposit: ONE,
    peerDeposit: ONE,
    fee: [FEE, FEE, FEE],
    seconds: SECONDS,
  });
}

/** Each member's balance in ledger channel k (by the left member's view): [left, right]. */
async function ledgerBalances(ledgers: Hex[]): Promise<[bigint, bigint][]> {
  return Promise.all(
    ledgers.map(async (id, k) => {
      const view = await (nodes[k] as NodeProcess).api.channel(id);
      const b = view.balances?.[0] ?? [];
      const mine = BigInt(b[view.idx] ?? "0");
      const theirs = BigInt(b[1 - view.idx] ?? "0");
      return [mine, theirs] as [bigint, bigint];
    }),
  );
}

/** Closes the four ledger channels on chain and returns what each member withdrew from them, in path order. */
async function closeAll(ledgers: Hex[]): Promise<bigint[]> {
  await Promise.all(ledgers.map((id, k) => (nodes[k] as NodeProcess).api.close(id)));
  for (const [k, id] of ledgers.entries()) {
    await until(
      async () => (await (nodes[k + 1] as NodeProcess).api.channel(id)).phase === "Withdrawn",
      `right side of ledger ${k} withdrew`,
      30_000,
    );
  }
  return Promise.all(
    nodes.map(async (n, i) => {
      let sum = 0n;
      for (const id of [ledgers[i - 1], ledgers[i]]) {
        if (id === undefined) continue;
        for (const x of await scene.withdrawn(id, n.address as Address)) sum += x;
      }
      return sum;
    }),
  );
}

describe("virtual channel over three intermediaries, five node processes", () => {
  it(`opens with no transaction, ${PAYMENTS} payments without the intermediaries, closes; exact payouts`, async () => {
    const ledgers = await openPath();
    const [alice, , , , bob] = nodes as NodeProcess[] as [
      NodeProcess,
      NodeProcess,
      NodeProcess,
      NodeProcess,
      NodeProcess,
    ];
    const block = await scene.rpc.getBlockNumber({ cacheTime: 0 });
    const { channelID: v } = await openV(ledgers);
    await until(async () => (await bob.api.channel(v)).phase === "Acting", "Bob sees V funded");
    expect((await alice.api.channel(v)).virtual?.path).toEqual(nodes.map((n) => n.address));
    const locked = await ledgerBalances(ledgers);
    expect(locked[0]).toEqual([FIVE - ONE - 3n * FEE, FIVE - ONE + 3n * FEE]);
    expect(locked[1]).toEqual([FIVE - ONE - 2n * FEE, FIVE - ONE + 2n * FEE]);
    expect(locked[2]).toEqual([FIVE - ONE - FEE, FIVE - ONE + FEE]);
    expect(locked[3]).toEqual([FIVE - ONE, FIVE - ONE]);
    const hubVersions = async () =>
      Promise.all(
        [1, 2, 3].map(async (i) => {
          const cs = await (nodes[i] as NodeProcess).api.channels();
          return [find(cs, ledgers[i - 1] as Hex)?.version, find(cs, ledgers[i] as Hex)?.version];
        }),
      );
    const before = await hubVersions();

    // 1,000 payments: Alice pays 2 milli-ether on even ones, Bob 1 on odd ones.
    for (let i = 0; i < PAYMENTS; i++) {
      if (i % 2 === 0) await alice.api.pay(v, parseEther("0.002"));
      else await bob.api.pay(v, parseEther("0.001"));
    }
    expect(await hubVersions()).toEqual(before); // no intermediary saw a payment
    const moved = parseEther("0.5"); // 500 x 0.002 - 500 x 0.001
    expect((await bob.api.channel(v)).balances).toEqual([[`${ONE - moved}`, `${ONE + moved}`]]);

    await alice.api.close(v);
    await until(async () => (await bob.api.channel(v)).virtual?.unlocked === true, "Bob's side unlocked");
    await until(async () => {
      const b = await ledgerBalances(ledgers);
      return b.every(([x, y]) => x + y === 2n * FIVE);
    }, "all four ledger channels unlocked");
    expect(await scene.rpc.getBlockNumber({ cacheTime: 0 })).toBe(block); // V: no transaction at all

    const paid = await closeAll(ledgers);
    expect(paid[0]).toBe(FIVE - 3n * FEE - moved);
    expect(paid[1]).toBe(2n * FIVE + FEE);
    expect(paid[2]).toBe(2n * FIVE + FEE);
    expect(paid[3]).toBe(2n * FIVE + FEE);
    expect(paid[4]).toBe(FIVE + moved);
  }, 240_000);

  it("I2 is killed while it holds I1's lock and restarted: all locks or none, and every party is paid exactly", async () => {
    const ledgers = await openPath();
    const opening = openV(ledgers).then(
      (r) => ({ v: r.channelID as Hex }),
      (err: unknown) => ({ err: String(err) }),
    );
    const i2 = nodes[2] as NodeProcess;
    await until(
      () => logLines(i2).some((l) => String(l.msg).includes("holding the lock from the left")),
      "I2 holds I1's lock",
    );
    await crash(i2);
    nodes[2] = await runNode(scene, specs[2] as NodeSpec);
    const result = await opening;

    // Every ledger channel settles its proposals: both sides Acting at the same version.
    let seen = "";
    await until(
      async () => {
        const views: string[] = [];
        for (const [k, id] of ledgers.entries()) {
          const a = await (nodes[k] as NodeProcess).api.channel(id);
          const b = await (nodes[k + 1] as NodeProcess).api.channel(id);
          views.push(`${k}: ${a.phase} v${a.version} | ${b.phase} v${b.version}`);
        }
        seen = views.join("; ");
        return views.every((x) => /Acting v(\d+) \| Acting v\1$/.test(x));
      },
      "every ledger channel of the path in sync",
      60_000,
    ).catch((err: unknown) => {
      const logs = nodes.slice(0, 4).map(
        (n, i) =>
          `--- ${specs[i]?.name}\n${logLines(n)
            .filter((l) => l.level !== "debug")
            .map((l) => JSON.stringify(l).slice(0, 400))
            .join("\n")}`,
      );
      throw new Error(`${String(err)}: ${seen}\nopen: ${JSON.stringify(result)}\n${logs.join("\n")}`);
    });
    const balances = await ledgerBalances(ledgers);
    const lockedHops = balances.filter(([x, y]) => x + y < 2n * FIVE).length;
    expect([0, 4], `open: ${JSON.stringify(result)}; balances ${balances}`).toContain(lockedHops);

    let moved = 0n;
    if (lockedHops === 4) {
      // V is funded at both ends (even if Alice's call gave up waiting): use it and close it.
      const [alice, , , , bob] = nodes as [NodeProcess, NodeProcess, NodeProcess, NodeProcess, NodeProcess];
      const v =
        "v" in result
          ? result.v
          : ((await alice.api.channels()).find((c) => c.virtual !== undefined && c.phase === "Acting")
              ?.channelID as Hex);
      await until(async () => (await bob.api.channel(v)).phase === "Acting", "Bob sees V funded");
      await until(async () => (await alice.api.channel(v)).phase === "Acting", "Alice sees V funded");
      await alice.api.pay(v, parseEther("0.25"));
      moved = parseEther("0.25");
      await alice.api.close(v);
      await until(async () => {
        const b = await ledgerBalances(ledgers);
        return b.every(([x, y]) => x + y === 2n * FIVE);
      }, "all four ledger channels unlocked");
    }
    const paid = await closeAll(ledgers);
    const fee = lockedHops === 4 ? FEE : 0n;
    expect(paid[0]).toBe(FIVE - 3n * fee - moved);
    expect(paid[1]).toBe(2n * FIVE + fee);
    expect(paid[2]).toBe(2n * FIVE + fee);
    expect(paid[3]).toBe(2n * FIVE + fee);
    expect(paid[4]).toBe(FIVE + moved);
  }, 240_000);
});
