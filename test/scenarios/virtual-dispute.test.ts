/**
 * Disputes of a virtual channel between separate OS processes, on one `perun chain`: three `perun
 * node`s per scenario, Alice, Ingrid (intermediary terms in her config) and Bob; ledger channels L1
 * (Alice-Ingrid) and L2 (Bob-Ingrid) with 5 ETH each side, V (Alice-Bob via Ingrid) with 1 ETH each
 * side opened through the API with no transaction, then a few payments over V. The in-process
 * versions are in test/client/virtual-channel.test.ts; here every party is a process that can be
 * killed (-9) and restarted on its database, and every payout is read from the chain (Withdrawn
 * events, holdings) to the wei:
 *  1. Bob goes offline: Alice force-closes L1 through her API, Ingrid's node disputes L2 by itself;
 *     Alice and Ingrid withdraw (Ingrid nets exactly her fee), Bob's share waits in L2 until his
 *     restarted node withdraws it.
 *  2. Ingrid goes offline: Alice disputes L1 through her API, Bob's node disputes L2 by itself; both
 *     get their share of V out; Ingrid's money waits on chain (exactly her deposits + the fee) until
 *     her restarted node withdraws it.
 *  3. Alice registers an old V state: she keeps a copy of her database from when V opened, pays, is
 *     killed and registers L1 with V at version 0 with her key; Bob's node refutes with the newest V
 *     state; every payout (Alice's, after her restart, included) follows it.
 *  4. Alice and Bob collude against Ingrid: Alice pays Bob, V's final state is signed while Ingrid
 *     is down (killed -9), so that only Bob's side gets unlocked (into L2, after her restart) and
 *     Bob closes L2; Alice never unlocks L1. While Ingrid is down again, Alice registers L1 with V
 *     at version 0 from her old database: Ingrid's node, restarted on its database, refutes with
 *     the final state and nets exactly her fee.
 *  5. After a cooperative close of V (both sides unlocked), Alice registers L1 with V from her old
 *     database: Ingrid refutes with the unlocked L1; Bob's L2, which no longer locks V, must stay
 *     off chain. Fails today: Bob's node registers L2 (see the test's last assertion).
 * Chain time moves only by scene.advance; every wait is bounded.
 */
import { decodeFunctionData, parseAbiItem, parseEther } from "viem";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { DisputePhase } from "../../src/chain/adjudicator.js";
import { EthChain } from "../../src/chain/chain-port.js";
import { AdjudicatorAbi, AssetHolderETHAbi } from "../../src/chain/generated/index.js";
import { rentalFee } from "../../src/channel/fees.js";
import type { Address, Hex } from "../../src/channel/types.js";
import { openSqliteStore } from "../../src/store/index.js";
import { killAll, type NodeProcess } from "./processes.js";
import {
  balanceOf,
  copyDatabase,
  crash,
  logLines,
  type NodeSpec,
  nodeMesh,
  retry,
  runNode,
  type Scene,
  startScene,
  until,
  untilInSync,
} from "./scenario-helpers.js";

const CHALLENGE = 60;
const FIVE = parseEther("5");
const ONE = parseEther("1");
const SECONDS = 3_600;
/** Ingrid's terms: 1e12 wei per V, plus 1e9 wei per second per ether of collateral. */
const TERMS = { baseFee: "1000000000000", ratePerSecondPerUnit: "1000000000", maxDurationSeconds: 86_400 };
/** Exactly what the terms ask for V (2 ETH of collateral for an hour); Alice pays it in L1. */
const FEE = rentalFee(
  {
    baseFee: BigInt(TERMS.baseFee),
    ratePerSecondPerUnit: BigInt(TERMS.ratePerSecondPerUnit),
    maxDurationSeconds: 86_400n,
  },
  2n * ONE,
  BigInt(SECONDS),
);
const eth = (s: string) => parseEther(s);
/** How long a node gets to (wrongly) react to a chain event before we conclude it did not. */
const QUIET_MS = 3_000;

let scene: Scene;
/** Every node process started by this file and not yet killed: afterEach kills them (-9). */
const live = new Set<NodeProcess>();
/** Every node process of the current test, for its log if the test fails. */
const started: NodeProcess[] = [];

beforeAll(async () => {
  scene = await startScene();
}, 120_000);

afterEach(async (ctx) => {
  await Promise.allSettled([...live].map((n) => crash(n)));
  live.clear();
  if (ctx.task.result?.state === "fail") {
    // What each node did, for the diagnosis: its info and warning lines, per payment lines left out.
    for (const n of started) {
      const lines = logLines(n).filter((l) => l.level !== "debug" && l.msg !== "channel updated");
      console.log(`--- ${n.configPath}\n${lines.map((l) => JSON.stringify(l)).join("\n")}`);
    }
  }
  started.length = 0;
});

afterAll(async () => {
  scene?.chain.kill("SIGTERM");
  await killAll();
});

async function start(spec: NodeSpec): Promise<NodeProcess> {
  const node = await runNode(scene, spec);
  live.add(node);
  started.push(node);
  return node;
}

async function kill(node: NodeProcess): Promise<void> {
  await crash(node);
  live.delete(node);
}

/** `p`, or a rejection naming `what` after `ms`: API calls that wait for the chain or a peer are bounded. */
function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The three nodes of a scenario (replaced on restart), their specs and the channels. */
interface Trio {
  readonly spec: { readonly alice: NodeSpec; readonly ingrid: NodeSpec; readonly bob: NodeSpec };
  alice: NodeProcess;
  ingrid: NodeProcess;
  bob: NodeProcess;
  readonly l1: Hex;
  readonly l2: Hex;
  readonly v: Hex;
}

/**
 * Starts Alice, Ingrid (with terms) and Bob (databases named after `tag`), opens L1 and L2 (5 ETH
 * each side) and V (1 ETH each side, fee FEE) through the APIs; resolves once both locks are signed.
 */
async function openTrio(tag: string): Promise<Trio> {
  const [a, i, b] = (await nodeMesh(scene, [
    [`alice-${tag}`, 1],
    [`ingrid-${tag}`, 3],
    [`bob-${tag}`, 2],
  ])) as [NodeSpec, NodeSpec, NodeSpec];
  i.config = { ...i.config, intermediary: TERMS };
  const [alice, ingrid, bob] = await Promise.all([start(a), start(i), start(b)]);
  const open = (n: NodeProcess) =>
    n.api.open({ peer: ingrid.address, deposit: FIVE, peerDeposit: FIVE, challengeDuration: CHALLENGE });
  const [{ channelID: l1 }, { channelID: l2 }] = await within(
    30_000,
    "opening L1 and L2",
    Promise.all([open(alice), open(bob)]),
  );
  await until(async () => {
    const [c1, c2] = await Promise.all([ingrid.api.channel(l1), ingrid.api.channel(l2)]);
    return c1.phase === "Acting" && c2.phase === "Acting";
  }, "Ingrid sees L1 and L2 funded");
  const { channelID: v } = await within(
    15_000,
    "opening V",
    alice.api.openVirtual({
      peer: bob.address,
      via: ingrid.address,
      ledger: l1,
      peerLedger: l2,
      deposit: ONE,
      peerDeposit: ONE,
      fee: FEE,
      seconds: SECONDS,
      challengeDuration: CHALLENGE,
    }),
  );
  // L2 is [Bob, Ingrid]: both fronted 1 ETH of V there; L1 [Alice, Ingrid] also moved the fee.
  await until(
    async () =>
      (await bob.api.channel(v)).phase === "Acting" &&
      JSON.stringify((await ingrid.api.channel(l2)).balances) ===
        JSON.stringify([[`${FIVE - ONE}`, `${FIVE - ONE}`]]),
    "Bob's side of V locked in L2",
  );
  expect((await ingrid.api.channel(l1)).balances).toEqual([[`${FIVE - ONE - FEE}`, `${FIVE - ONE + FEE}`]]);
  return { spec: { alice: a, ingrid: i, bob: b }, alice, ingrid, bob, l1, l2, v };
}

/** Payments over V in order ("a": Alice pays Bob, "b": Bob pays Alice); resolves with V's [a', b']. */
async function payOverV(t: Trio, payments: readonly ["a" | "b", string][]): Promise<[bigint, bigint]> {
  for (const [who, amount] of payments) {
    // The first payment after a restart may find the wire still reconnecting: retried, bounded.
    await retry(() => (who === "a" ? t.alice : t.bob).api.pay(t.v, eth(amount)), `payment over V`, 20_000);
  }
  const [view] = await untilInSync(t.alice, t.bob, t.v);
  expect(view.version).toBe(String(payments.length));
  return [balanceOf(view, 0), balanceOf(view, 1)];
}

/** Kills Alice, keeps a copy of her database (V at version 0, L1 with V locked), restarts her. */
async function backupAlice(t: Trio): Promise<string> {
  await kill(t.alice);
  const path = copyDatabase(scene, t.spec.alice, `${t.spec.alice.name}-old`);
  t.alice = await start(t.spec.alice);
  return path;
}

/** Alice's signed states of L1 and V in the database at `path` (the node must not be running). */
function oldStates(path: string, l1: Hex, v: Hex) {
  const store = openSqliteStore(path);
  try {
    const signed = (id: Hex) => {
      const m = store.getChannel(id)?.machine;
      if (!m?.current) throw new Error(`no signed state of ${id} in ${path}`);
      return { params: m.params, state: m.current.state, sigs: m.current.sigs as Hex[] };
    };
    return { l1: signed(l1), v: signed(v) };
  } finally {
    store.close();
  }
}

async function withdrawnOnce(id: Hex, who: Address, what: string): Promise<bigint> {
  await until(async () => (await scene.withdrawn(id, who)).length > 0, what, 30_000);
  const amounts = await scene.withdrawn(id, who);
  expect(amounts).toHaveLength(1);
  return amounts[0] as bigint;
}

async function expectEmpty(channels: readonly [Hex, Address][]): Promise<void> {
  for (const [id, who] of channels) expect(await scene.holdings(id, who)).toBe(0n);
}

/** The contract calls each party sent after block `from`: function name, "(reverted)" if so, gas used. */
async function callsSince(from: bigint, t: Trio, gas = true): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  const head = await scene.reader.blockNumber();
  for (let n = from + 1n; n <= head; n++) {
    const block = await scene.rpc.getBlock({ blockNumber: n, includeTransactions: true });
    for (const tx of block.transactions) {
      let fn = "?";
      for (const abi of [AdjudicatorAbi, AssetHolderETHAbi]) {
        try {
          fn = decodeFunctionData({ abi, data: tx.input }).functionName;
          break;
        } catch {
          // not this contract's call
        }
      }
      const receipt = await scene.rpc.getTransactionReceipt({ hash: tx.hash });
      if (receipt.status !== "success") fn += " (reverted)";
      if (gas) fn += ` ${receipt.gasUsed}`;
      const who = nameOf(t, tx.from);
      out[who] = [...(out[who] ?? []), fn];
    }
  }
  return out;
}

function nameOf(t: Trio, address: Address): string {
  for (const [name, spec] of Object.entries(t.spec)) {
    if (spec.address.toLowerCase() === address.toLowerCase()) return name;
  }
  return address;
}

const CHANNEL_UPDATE = parseAbiItem(
  "event ChannelUpdate(bytes32 indexed channelID, uint64 version, uint8 phase, uint64 timeout)",
);

/** Who put which version of channel `id` on chain (registrations and refutations), in order. */
async function registrations(id: Hex, t: Trio): Promise<{ by: string; version: bigint }[]> {
  const logs = await scene.rpc.getLogs({
    address: scene.chain.info.contracts.adjudicator,
    event: CHANNEL_UPDATE,
    args: { channelID: id },
    fromBlock: 0n,
    toBlock: "latest",
  });
  const out: { by: string; version: bigint }[] = [];
  for (const l of logs) {
    if (l.args.phase !== DisputePhase.DISPUTE) continue;
    const tx = await scene.rpc.getTransaction({ hash: l.transactionHash });
    out.push({ by: nameOf(t, tx.from), version: l.args.version as bigint });
  }
  return out;
}

describe("virtual channel disputes between node processes", () => {
  it("Bob goes offline: Alice force-closes L1, Ingrid disputes L2 by herself and nets her fee; Bob's restarted node withdraws his share", async () => {
    const t0 = performance.now();
    const t = await openTrio("s1");
    const { l1, l2, v } = t;
    const [a, b] = await payOverV(t, [
      ["a", "0.1"],
      ["a", "0.1"],
      ["b", "0.05"],
      ["a", "0.1"],
    ]);
    expect([a, b]).toEqual([eth("0.75"), eth("1.25")]);

    const from = await scene.reader.blockNumber();
    await kill(t.bob);
    // Resolves once Alice withdrew, which takes the chain time moved below.
    const closing = within(60_000, "Alice's force-close of L1", t.alice.api.close(l1, true)).catch(
      (e: unknown) => e,
    );
    await until(
      async () => (await scene.reader.dispute(l1)) !== undefined,
      "Alice's registration of L1",
      30_000,
    );
    expect((await scene.reader.dispute(v))?.version).toBe(4n); // V went on chain with L1, at its newest
    await until(
      async () => (await scene.reader.dispute(l2)) !== undefined,
      "Ingrid's registration of L2",
      30_000,
    );
    // Alice put L1 and V on chain; Ingrid, by herself, L2 (with V as it is on chain).
    expect(await registrations(l1, t)).toEqual([{ by: "alice", version: 1n }]);
    expect(await registrations(v, t)).toEqual([{ by: "alice", version: 4n }]);
    expect(await registrations(l2, t)).toEqual([{ by: "ingrid", version: 1n }]);
    // Time moves only once both ledger channels are registered.
    await scene.advance(CHALLENGE + 1);
    expect(await closing).toEqual({ ok: true });

    const aliceL1 = await withdrawnOnce(l1, t.alice.address, "Alice's withdrawal from L1");
    const ingridL1 = await withdrawnOnce(l1, t.ingrid.address, "Ingrid's withdrawal from L1");
    const ingridL2 = await withdrawnOnce(l2, t.ingrid.address, "Ingrid's withdrawal from L2");
    expect(aliceL1).toBe(FIVE - ONE - FEE + a);
    // Ingrid's L1: her balance, the fee and V.bob's share (which she fronted in L2).
    expect(ingridL1).toBe(FIVE - ONE + FEE + b);
    expect(ingridL2).toBe(FIVE - ONE + a); // her balance and V.alice's share
    expect(ingridL1 + ingridL2 - 2n * FIVE).toBe(FEE);
    // Bob's share waits for him in L2.
    expect(await scene.holdings(l2, t.bob.address)).toBe(FIVE - ONE + b);
    expect(await scene.withdrawn(l2, t.bob.address)).toEqual([]);

    t.bob = await start(t.spec.bob);
    expect(await withdrawnOnce(l2, t.bob.address, "Bob's withdrawal after his restart")).toBe(FIVE - ONE + b);
    await until(async () => (await t.bob.api.channel(l2)).phase === "Withdrawn", "Bob's L2 Withdrawn");
    await expectEmpty([
      [l1, t.alice.address],
      [l1, t.ingrid.address],
      [l2, t.ingrid.address],
      [l2, t.bob.address],
    ]);
    console.log(
      JSON.stringify({
        scenario: "bob offline",
        ms: Math.round(performance.now() - t0),
        calls: await callsSince(from, t),
      }),
    );
  }, 90_000);

  it("Ingrid goes offline: Alice disputes L1, Bob's node disputes L2 by itself, both get their share of V; Ingrid's restarted node withdraws her deposits + fee", async () => {
    const t0 = performance.now();
    const t = await openTrio("s2");
    const { l1, l2, v } = t;
    const [a, b] = await payOverV(t, [
      ["b", "0.3"],
      ["a", "0.1"],
      ["b", "0.1"],
    ]);
    expect([a, b]).toEqual([eth("1.3"), eth("0.7")]);

    const from = await scene.reader.blockNumber();
    await kill(t.ingrid);
    expect(await within(15_000, "Alice's dispute of L1", t.alice.api.dispute(l1))).toEqual({ ok: true });
    expect((await scene.reader.dispute(v))?.version).toBe(3n);
    await until(
      async () => (await scene.reader.dispute(l2)) !== undefined,
      "Bob's registration of L2",
      30_000,
    );
    expect(await registrations(l2, t)).toEqual([{ by: "bob", version: 1n }]);
    await scene.advance(CHALLENGE + 1);

    expect(await withdrawnOnce(l1, t.alice.address, "Alice's withdrawal from L1")).toBe(FIVE - ONE - FEE + a);
    expect(await withdrawnOnce(l2, t.bob.address, "Bob's withdrawal from L2")).toBe(FIVE - ONE + b);
    // Ingrid's money waits on chain: exactly her deposits and the fee.
    const i1 = await scene.holdings(l1, t.ingrid.address);
    const i2 = await scene.holdings(l2, t.ingrid.address);
    expect([i1, i2]).toEqual([FIVE - ONE + FEE + b, FIVE - ONE + a]);
    expect(i1 + i2 - 2n * FIVE).toBe(FEE);

    t.ingrid = await start(t.spec.ingrid);
    expect(await withdrawnOnce(l1, t.ingrid.address, "Ingrid's withdrawal from L1 after her restart")).toBe(
      i1,
    );
    expect(await withdrawnOnce(l2, t.ingrid.address, "Ingrid's withdrawal from L2 after her restart")).toBe(
      i2,
    );
    await expectEmpty([
      [l1, t.alice.address],
      [l1, t.ingrid.address],
      [l2, t.ingrid.address],
      [l2, t.bob.address],
    ]);
    console.log(
      JSON.stringify({
        scenario: "ingrid offline",
        ms: Math.round(performance.now() - t0),
        calls: await callsSince(from, t),
      }),
    );
  }, 90_000);

  it("Alice registers an old V state from a copy of her database: Bob's node refutes with the newest; every payout follows it", async () => {
    const t0 = performance.now();
    const t = await openTrio("s3");
    const { l1, l2, v } = t;
    const oldDb = await backupAlice(t);
    const [a, b] = await payOverV(t, [
      ["a", "0.1"],
      ["a", "0.1"],
      ["a", "0.1"],
      ["a", "0.1"],
      ["a", "0.1"],
    ]);
    expect([a, b]).toEqual([eth("0.5"), eth("1.5")]);

    const from = await scene.reader.blockNumber();
    await kill(t.alice);
    const old = oldStates(oldDb, l1, v);
    expect(old.v.state.version).toBe(0n);
    expect(old.v.state.outcome.balances).toEqual([[ONE, ONE]]);
    expect(old.l1.state.outcome.locked.map((s) => s.ID)).toEqual([v]);
    // The attack: L1 with V at version 0 (Alice 1, Bob 1), signed by everyone, sent with Alice's key.
    await new EthChain(scene.conn, scene.chain.info.contracts.adjudicator, t.spec.alice.key).register(
      old.l1,
      [old.v],
    );
    await until(
      async () => (await scene.reader.dispute(v))?.version === 5n,
      "V refuted to version 5",
      30_000,
    );
    await until(async () => (await scene.reader.dispute(l2)) !== undefined, "L2 registered", 30_000);
    expect(await registrations(v, t)).toEqual([
      { by: "alice", version: 0n },
      { by: "bob", version: 5n },
    ]);
    await scene.advance(CHALLENGE + 1);

    expect(await withdrawnOnce(l2, t.bob.address, "Bob's withdrawal from L2")).toBe(FIVE - ONE + b);
    const ingridL1 = await withdrawnOnce(l1, t.ingrid.address, "Ingrid's withdrawal from L1");
    const ingridL2 = await withdrawnOnce(l2, t.ingrid.address, "Ingrid's withdrawal from L2");
    expect([ingridL1, ingridL2]).toEqual([FIVE - ONE + FEE + b, FIVE - ONE + a]);
    expect(ingridL1 + ingridL2 - 2n * FIVE).toBe(FEE);
    // Alice gets what the newest V state gives her, not the old one: when she comes back.
    expect(await scene.holdings(l1, t.alice.address)).toBe(FIVE - ONE - FEE + a);
    t.alice = await start(t.spec.alice);
    expect(await withdrawnOnce(l1, t.alice.address, "Alice's withdrawal after her restart")).toBe(
      FIVE - ONE - FEE + a,
    );
    await expectEmpty([
      [l1, t.alice.address],
      [l1, t.ingrid.address],
      [l2, t.ingrid.address],
      [l2, t.bob.address],
    ]);
    console.log(
      JSON.stringify({
        scenario: "alice registers old V",
        ms: Math.round(performance.now() - t0),
        calls: await callsSince(from, t),
      }),
    );
  }, 90_000);

  it("Alice and Bob collude (Bob unlocks with the final state, Alice registers V at version 0): Ingrid, killed and restarted in between, refutes and nets exactly her fee", async () => {
    const t0 = performance.now();
    const t = await openTrio("s4");
    const { l1, l2, v } = t;
    const oldDb = await backupAlice(t);
    const [a, b] = await payOverV(t, [["a", "0.9"]]);
    expect([a, b]).toEqual([eth("0.1"), eth("1.9")]);

    const from = await scene.reader.blockNumber();
    // V's final state gets both signatures while Ingrid is down, so Alice never unlocks L1.
    await kill(t.ingrid);
    // Bob's close gets the final state signed, then cannot reach Ingrid to unlock; nor can Alice.
    await expect(within(15_000, "Bob's close of V", t.bob.api.close(v))).rejects.toMatchObject({
      status: 502,
      code: "PEER_UNREACHABLE",
    });
    await until(async () => (await t.alice.api.channel(v)).version === "2", "Alice signed V's final state");
    await kill(t.alice);
    // Ingrid is back: Bob's close unlocks his side of V into L2 with the final state.
    t.ingrid = await start(t.spec.ingrid);
    await retry(() => within(15_000, "Bob's close of V", t.bob.api.close(v)), "Bob's close of V", 30_000);
    expect((await t.bob.api.channel(v)).virtual?.unlocked).toBe(true);
    const l2Final = [[`${FIVE - ONE + b}`, `${FIVE - ONE + a}`]];
    await until(
      async () => JSON.stringify((await t.ingrid.api.channel(l2)).balances) === JSON.stringify(l2Final),
      "L2 unlocked at Ingrid",
    );
    // L1 still locks V at Ingrid: Alice never unlocked it.
    expect((await t.ingrid.api.channel(l1)).balances).toEqual([
      [`${FIVE - ONE - FEE}`, `${FIVE - ONE + FEE}`],
    ]);
    // Bob takes his money out of L2 (cooperatively, on chain): Ingrid has paid out V.alice's 0.1 there.
    await within(30_000, "Bob's close of L2", t.bob.api.close(l2));
    expect(await withdrawnOnce(l2, t.bob.address, "Bob's withdrawal from L2")).toBe(FIVE - ONE + b);
    const ingridL2 = await withdrawnOnce(l2, t.ingrid.address, "Ingrid's withdrawal from L2");
    expect(ingridL2).toBe(FIVE - ONE + a);

    // Ingrid goes down again; Alice registers L1 with V at version 0 (Alice 1, Bob 1) meanwhile:
    // settled so, Ingrid would get 1 instead of 1.9 in L1 after paying out 0.1 in L2.
    await kill(t.ingrid);
    const old = oldStates(oldDb, l1, v);
    expect(old.v.state.version).toBe(0n);
    await new EthChain(scene.conn, scene.chain.info.contracts.adjudicator, t.spec.alice.key).register(
      old.l1,
      [old.v],
    );
    expect((await scene.reader.dispute(v))?.version).toBe(0n);
    // Ingrid restarts on her database: the final state she received is all she needs.
    t.ingrid = await start(t.spec.ingrid);
    await until(async () => (await scene.reader.dispute(v))?.version === 2n, "Ingrid refuted V", 30_000);
    expect(await registrations(v, t)).toEqual([
      { by: "alice", version: 0n },
      { by: "ingrid", version: 2n },
    ]);
    await scene.advance(CHALLENGE + 1);

    const ingridL1 = await withdrawnOnce(l1, t.ingrid.address, "Ingrid's withdrawal from L1");
    expect(ingridL1).toBe(FIVE - ONE + FEE + b);
    // Alice's share of V's final state waits for her in L1.
    expect(await scene.holdings(l1, t.alice.address)).toBe(FIVE - ONE - FEE + a);

    expect(ingridL1 + ingridL2 - 2n * FIVE).toBe(FEE);
    await expectEmpty([
      [l1, t.ingrid.address],
      [l2, t.ingrid.address],
      [l2, t.bob.address],
    ]);
    console.log(
      JSON.stringify({
        scenario: "alice and bob collude",
        ms: Math.round(performance.now() - t0),
        calls: await callsSince(from, t),
      }),
    );
  }, 120_000);

  it("V closed cooperatively, then Alice registers L1 with V from an old copy of her database: Ingrid refutes with the unlocked L1; Bob's L2, which no longer locks V, stays off chain", async () => {
    const t0 = performance.now();
    const t = await openTrio("s5");
    const { l1, l2, v } = t;
    const oldDb = await backupAlice(t);
    const [a, b] = await payOverV(t, [
      ["a", "0.2"],
      ["b", "0.05"],
    ]);
    expect([a, b]).toEqual([eth("0.85"), eth("1.15")]);
    await within(15_000, "Alice's close of V", t.alice.api.close(v)); // both sides unlock, no transaction
    const l1Final = [[`${FIVE - ONE - FEE + a}`, `${FIVE - ONE + FEE + b}`]];
    const l2Final = [[`${FIVE - ONE + b}`, `${FIVE - ONE + a}`]];
    await until(async () => {
      const [c1, c2] = await Promise.all([t.ingrid.api.channel(l1), t.ingrid.api.channel(l2)]);
      return (
        JSON.stringify([c1.version, c1.balances, c2.version, c2.balances]) ===
        JSON.stringify(["2", l1Final, "2", l2Final])
      );
    }, "both sides of V unlocked at Ingrid");
    await until(async () => (await t.bob.api.channel(v)).virtual?.unlocked === true, "Bob's side unlocked");

    const from = await scene.reader.blockNumber();
    await kill(t.alice);
    const old = oldStates(oldDb, l1, v);
    expect([old.l1.state.version, old.v.state.version]).toEqual([1n, 0n]);
    await new EthChain(scene.conn, scene.chain.info.contracts.adjudicator, t.spec.alice.key).register(
      old.l1,
      [old.v],
    );
    // Ingrid refutes L1 with version 2, in which V is unlocked: the stale V on chain pays nobody.
    await until(async () => (await scene.reader.dispute(l1))?.version === 2n, "Ingrid refuted L1", 30_000);
    expect(await registrations(l1, t)).toEqual([
      { by: "alice", version: 1n },
      { by: "ingrid", version: 2n },
    ]);
    // Nothing should happen to L2. A negative needs a bound: Bob's node reacts to a registration
    // within a few hundred ms (scenarios 1-3); it gets QUIET_MS. Chain time moves only after this
    // window, so that a registration of L2 in it (the bug below) times out with L1's.
    const l2Registered = await until(
      async () => (await scene.reader.dispute(l2)) !== undefined,
      "a registration of L2",
      QUIET_MS,
    ).then(
      () => true,
      () => false,
    );
    await scene.advance(CHALLENGE + 1);
    const ingridL1 = await withdrawnOnce(l1, t.ingrid.address, "Ingrid's withdrawal from L1");
    expect(ingridL1).toBe(FIVE - ONE + FEE + b);
    expect(await scene.holdings(l1, t.alice.address)).toBe(FIVE - ONE - FEE + a);

    // L2 closes with the unlocked balances (cooperatively if it is still off chain).
    await within(30_000, "Bob's close of L2", t.bob.api.close(l2));
    expect(await withdrawnOnce(l2, t.bob.address, "Bob's withdrawal from L2")).toBe(FIVE - ONE + b);
    const ingridL2 = await withdrawnOnce(l2, t.ingrid.address, "Ingrid's withdrawal from L2");
    expect(ingridL2).toBe(FIVE - ONE + a);
    expect(ingridL1 + ingridL2 - 2n * FIVE).toBe(FEE);
    const calls = await callsSince(from, t, false);
    console.log(
      JSON.stringify({
        scenario: "old state after a cooperative close",
        ms: Math.round(performance.now() - t0),
        calls: await callsSince(from, t),
      }),
    );

    // L2 does not lock V any more: nothing about V concerns it, and Alice (V's peer) must not be
    // able to force Bob's ledger channel with Ingrid onto the chain by registering an old V state.
    expect(
      { l2Registered, bobCalls: calls.bob },
      "Bob's node registered L2 (no longer locking V) on seeing a stale V state on chain",
    ).toEqual({ l2Registered: false, bobCalls: ["concludeFinalAndPayout"] });
  }, 90_000);
});
