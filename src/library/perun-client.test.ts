/**
 * The library client on the real embedded EVM, over real WebSockets: a ledger channel opened, paid
 * both ways and settled (on-chain payouts checked), a client restarted from its SQLite file with a
 * keystore signer, a virtual channel along a found path and along a path given by hand, a dispute run
 * out by moving chain time, and events. Option checks are a table: each bad option gives an
 * INVALID_ARGUMENT error naming the field.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseEther } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmbeddedChain, type EmbeddedPerunChain } from "../chain/perun-chain.js";
import type { ClientEvent } from "../client/client.js";
import { PerunError } from "../errors.js";
import { startTestPostgres } from "../store/postgres-server.testutil.js";
import type { PerunClientOptions } from "./client-options.js";
import { encryptKeystore } from "./keystore.js";
import { createPerunClient, type PerunClient } from "./perun-client.js";

let chain: EmbeddedPerunChain;
const dir = mkdtempSync(join(tmpdir(), "perun-lib-"));
const open: PerunClient[] = [];
const quiet = () => {};

beforeAll(async () => {
  chain = await createEmbeddedChain({ accounts: 8 });
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.close()));
  rmSync(dir, { recursive: true, force: true });
});

async function client(i: number, extra: Partial<PerunClientOptions> = {}): Promise<PerunClient> {
  const c = await createPerunClient({
    signer: chain.accounts[i] as `0x${string}`,
    chain,
    store: "memory",
    listen: { port: 0 },
    acceptProposals: true,
    policy: { maxDeposit: { ETH: parseEther("100") } },
    log: quiet,
    ...extra,
  });
  open.push(c);
  return c;
}

async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => "resolved",
    (e: unknown) => (e instanceof PerunError ? e.code : `not a PerunError: ${String(e)}`),
  );
}

describe("createPerunClient: an app channel", () => {
  it("plays tic-tac-toe; the winner settles and the chain pays her the pot", async () => {
    expect(chain.contracts.apps?.tictactoe).toMatch(/^0x[0-9a-fA-F]{40}$/);
    const bob = await client(6);
    const alice = await client(7, { peers: [{ address: bob.address, url: bob.url as string }] });
    const stake = parseEther("1");
    expect(await codeOf(alice.openChannel({ peer: bob.address, deposit: stake, app: "chess" }))).toBe(
      "INVALID_ARGUMENT",
    );
    expect(
      await codeOf(
        alice.openChannel({ peer: bob.address, deposit: stake, app: "tictactoe", appOptions: { first: 3 } }),
      ),
    ).toBe("INVALID_ARGUMENT");
    const id = await alice.openChannel({
      peer: bob.address,
      deposit: stake,
      peerDeposit: stake,
      app: "tictactoe",
    });
    await until(() => bob.channel(id).phase === "Acting", "Bob sees the game funded");
    for (const [p, cell] of [
      [alice, 0],
      [bob, 3],
      [alice, 1],
      [bob, 4],
    ] as const)
      await p.move(id, { cell });
    expect(await codeOf(bob.move(id, { cell: 5 }))).toBe("INVALID_MOVE");
    const won = await alice.move(id, { cell: 2 });
    expect(won.app?.state).toEqual({ board: ["XXX", "OO.", "..."], nextActor: 1, winner: 0, draw: false });
    const before = await chain.balance(alice.address);
    await alice.settle(id);
    // The pot, less the gas of the settlement.
    const gained = (await chain.balance(alice.address)) - before;
    expect(gained > parseEther("1.99") && gained <= 2n * stake).toBe(true);
  });
});

describe("createPerunClient: a ledger channel", () => {
  it("opens, pays both ways, settles cooperatively; the chain pays out the last state", async () => {
    const bob = await client(2);
    // Alice only dials: no `listen`, no URL.
    const alice = await createPerunClient({
      signer: chain.accounts[1]!,
      chain,
      store: "memory",
      peers: [bob],
      log: quiet,
    });
    open.push(alice);
    expect(alice.url).toBeUndefined();
    expect(bob.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const events: ClientEvent[] = [];
    const stop = alice.onEvent((e) => events.push(e));

    const id = await alice.openChannel({
      peer: bob.address,
      deposit: parseEther("2"),
      peerDeposit: parseEther("1"),
    });
    expect(alice.channel(id).phase).toBe("Acting");
    const paid = await alice.pay(id, parseEther("0.5"));
    expect(paid.balances).toEqual([[parseEther("1.5"), parseEther("1.5")]]);
    await until(() => bob.channel(id).phase === "Acting", "Bob sees the channel funded");
    await bob.pay(id, parseEther("0.25"));
    expect(alice.channel(id)).toMatchObject({
      version: 2n,
      balances: [[parseEther("1.75"), parseEther("1.25")]],
    });

    const bobEvents: ClientEvent[] = [];
    bob.onEvent((e) => bobEvents.push(e));
    const before = [await chain.balance(alice.address), await chain.balance(bob.address)];
    await alice.settle(id);
    await bob.settle(id); // concluded by Alice already: Bob only withdraws
    const after = [await chain.balance(alice.address), await chain.balance(bob.address)];
    const withdrawn = (es: ClientEvent[]) => es.find((e) => e.type === "withdrawn" && e.channelID === id);
    expect(withdrawn(events)).toMatchObject({ amounts: [parseEther("1.75")] });
    expect(withdrawn(bobEvents)).toMatchObject({ amounts: [parseEther("1.25")] });
    // The payouts reached the wallets, less the gas of concludeFinal and withdraw (well below 0.001 ETH).
    const gas = parseEther("0.001");
    expect(after[0]! - before[0]!).toBeGreaterThan(parseEther("1.75") - gas);
    expect(after[1]! - before[1]!).toBeGreaterThan(parseEther("1.25") - gas);
    expect(alice.channel(id).phase).toBe("Withdrawn");

    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(["proposed", "opened", "funded", "updated", "concluded", "withdrawn"]),
    );
    stop();
    const n = events.length;
    await alice.openChannel({ peer: bob.address, deposit: 1n });
    expect(events.length).toBe(n);
  });

  it("resumes a channel from its SQLite file after a restart, with a keystore signer", async () => {
    const file = join(dir, "alice.db");
    const ksFile = join(dir, "alice-key.json");
    const keystore = await encryptKeystore(chain.accounts[3] as `0x${string}`, "pw", {
      n: 1 << 10,
      r: 8,
      p: 1,
    });
    writeFileSync(ksFile, JSON.stringify(keystore));
    const bob = await client(4);
    const opts = {
      signer: { keystoreFile: ksFile, password: "pw" },
      store: { file },
      peers: [bob],
    } as const;
    const alice1 = await client(3, opts);
    const id = await alice1.openChannel({ peer: bob.address, deposit: parseEther("1") });
    await alice1.pay(id, parseEther("0.1"));
    await alice1.close();
    await alice1.close(); // idempotent
    expect(await codeOf(alice1.pay(id, 1n))).toBe("CLIENT_CLOSED");

    const alice2 = await client(3, {
      ...opts,
      signer: { keystore: JSON.stringify(keystore), password: "pw" },
    });
    expect(alice2.address).toBe(alice1.address);
    expect(alice2.channel(id)).toMatchObject({ phase: "Acting", version: 1n });
    await alice2.pay(id, parseEther("0.1"));
    await alice2.settle(id);
    expect(alice2.channel(id).phase).toBe("Withdrawn");

    const wrong = client(3, { ...opts, signer: { keystoreFile: ksFile, password: "no" } });
    expect(await codeOf(wrong)).toBe("KEYSTORE_PASSWORD");
  });

  it("resumes a channel from a Postgres store after a restart; close() waits for the last commit", async () => {
    const server = await startTestPostgres({ fsync: false });
    try {
      const bob = await client(7);
      const store = { postgres: server.url(), schema: "alice" };
      const alice1 = await client(3, { store, peers: [bob] });
      const id = await alice1.openChannel({ peer: bob.address, deposit: parseEther("1") });
      await alice1.pay(id, parseEther("0.1"));
      await alice1.close();
      // Closed means committed and unlocked: a new client opens the store at once and finds the channel.
      const [row] = await server.query<{ n: string }>("SELECT count(*) AS n FROM alice.channels");
      expect(row?.n).toBe("1");
      const alice2 = await client(3, { store, peers: [bob] });
      expect(alice2.channel(id)).toMatchObject({ phase: "Acting", version: 1n });
      await alice2.pay(id, parseEther("0.1"));
      await alice2.settle(id);
      expect(alice2.channel(id).phase).toBe("Withdrawn");
      await alice2.close();
    } finally {
      await server.stop();
    }
  });

  it("settles by dispute: registers, and after the challenge duration concludes and withdraws", async () => {
    const bob = await client(6);
    const alice = await client(5, { peers: [bob] });
    const id = await alice.openChannel({
      peer: bob.address,
      deposit: parseEther("1"),
      challengeDuration: 30,
    });
    await alice.pay(id, parseEther("0.3"));
    await until(() => bob.channel(id).phase === "Acting", "Bob funded");
    const withdrawn = new Promise<ClientEvent>((resolve) =>
      bob.onEvent((e) => e.type === "withdrawn" && e.channelID === id && resolve(e)),
    );
    await alice.dispute(id);
    await until(() => alice.channel(id).phase === "Registered", "registered");
    await chain.increaseTime(31);
    expect(await withdrawn).toMatchObject({ amounts: [parseEther("0.3")] });
    await alice.settle(id);
    expect(alice.channel(id).phase).toBe("Withdrawn");
  });
});

describe("createPerunClient: virtual channels", () => {
  it("opens one along a found path and one along a path given by hand, pays, settles back", async () => {
    const terms = { baseFee: 1000n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n };
    const ingrid = await client(7, { intermediary: terms });
    const alice = await client(1, { peers: [ingrid] });
    const bob = await client(2, { peers: [ingrid] });
    ingrid.addPeer(alice.address, alice.url as string);
    alice.addPeer(bob.address, bob.url as string);
    const l1 = await alice.openChannel({
      peer: ingrid.address,
      deposit: parseEther("5"),
      peerDeposit: parseEther("5"),
    });
    const l2 = await bob.openChannel({
      peer: ingrid.address,
      deposit: parseEther("5"),
      peerDeposit: parseEther("5"),
    });
    await until(() => ingrid.channels().filter((c) => c.phase === "Acting").length >= 2, "Ingrid funded");

    const directory = [alice.directoryEntry(), ingrid.directoryEntry(), bob.directoryEntry()];
    expect(ingrid.directoryEntry().terms).toEqual(terms);
    const v = await alice.openVirtualChannel({
      peer: bob.address,
      deposit: parseEther("1"),
      peerDeposit: parseEther("1"),
      seconds: 3600,
      directory,
    });
    expect(alice.channel(v).virtual?.path).toEqual([alice.address, ingrid.address, bob.address]);
    await until(() => bob.channels().some((c) => c.channelID === v && c.phase === "Acting"), "Bob's side");
    await alice.pay(v, parseEther("0.4"));
    expect(await codeOf(alice.dispute(v))).toBe("VIRTUAL_DISPUTE");
    expect(await codeOf(alice.settle(v, { force: true }))).toBe("VIRTUAL_DISPUTE");
    await alice.settle(v);
    await until(() => bob.channel(v).virtual?.unlocked === true, "Bob's side unlocked");

    // The same path by hand, with the fee Ingrid's terms ask for.
    const fee = 1000n + (2n * parseEther("0.5") * 60n * 10n ** 9n + 10n ** 18n - 1n) / 10n ** 18n;
    const v2 = await alice.openVirtualChannel({
      peer: bob.address,
      deposit: parseEther("0.5"),
      peerDeposit: parseEther("0.5"),
      seconds: 60n,
      via: ingrid.address,
      ledger: l1,
      peerLedger: l2,
      fee,
    });
    await until(() => bob.channels().some((c) => c.channelID === v2 && c.phase === "Acting"), "Bob's side");
    await bob.pay(v2, parseEther("0.1"));
    await bob.settle(v2);
    await until(() => alice.channel(v2).virtual?.unlocked === true, "Alice's side unlocked");

    await alice.settle(l1);
    await bob.settle(l2);
    expect(alice.channel(l1).phase).toBe("Withdrawn");
  });
});

describe("createPerunClient: options are checked", () => {
  const rows: [string, Record<string, unknown>, RegExp][] = [
    ["no options object", { options: null }, /createPerunClient options: expected an object/],
    ["an unknown field", { transprot: 1 }, /only the fields signer, .*, got "transprot"/],
    ["no chain", { chain: undefined }, /chain: expected a chain from createEmbeddedChain\(\)/],
    [
      "a short key",
      { signer: "0x1234" },
      /signer: expected a 0x-prefixed 32-byte private key.*a string of 6/,
    ],
    ["a zero key", { signer: `0x${"0".repeat(64)}` }, /signer: expected a private key in the range/],
    ["no store", { store: undefined }, /store: expected "memory", \{ file: .*\} \(SQLite\) or \{ postgres/],
    ["a store typo", { store: "mem" }, /store: expected "memory"/],
    [
      "a postgres store that is no URL (not echoed: it may hold a password)",
      { store: { postgres: "host=db password=hunter2" } },
      /store\.postgres: expected a postgres:\/\/ or postgresql:\/\/ connection string, got "a string of 24 characters"/,
    ],
    [
      "a postgres schema that needs quoting",
      { store: { postgres: "postgres://db/hub", schema: "Hub" } },
      /store\.schema: expected a schema name/,
    ],
    ["a postgres store with a file", { store: { postgres: "postgres://db/hub", file: "a.db" } }, /"file"/],
    ["a bad port", { listen: { port: 70000 } }, /listen\.port: expected an integer from 0 to 65535/],
    ["a peer without url", { peers: [{ address: `0x${"1".repeat(40)}` }] }, /peers\[0\]\.url/],
    ["a bad peer address", { peers: [{ address: "0x12", url: "ws://x:1" }] }, /peers\[0\]\.address/],
    ["an http peer url", { peers: [{ address: `0x${"1".repeat(40)}`, url: "http://x:1" }] }, /ws:\/\//],
    [
      "a cap in ether",
      { policy: { maxDeposit: { ETH: 1 } } },
      /maxDeposit\.ETH: expected a non-negative bigint/,
    ],
    ["a cap of an unknown asset", { policy: { maxDeposit: { DAI: 1n } } }, /caps by asset symbol.*"DAI"/],
    ["min above max", { policy: { challengeDuration: { min: 10, max: 5 } } }, /challengeDuration/],
    [
      "a bad updates rule",
      { policy: { updates: "some" } },
      /policy\.updates: expected "gains-only" or "all"/,
    ],
    ["a bad accept", { acceptProposals: "yes" }, /acceptProposals: expected a boolean or a function/],
    [
      "terms in ether",
      { intermediary: { baseFee: 1, ratePerSecondPerUnit: 1n, maxDurationSeconds: 1 } },
      /baseFee/,
    ],
    ["a zero poll", { pollMs: 0 }, /pollMs: expected an integer from 1/],
    ["a bad log", { log: "stderr" }, /log: expected a function/],
  ];
  it.each(rows)("%s", async (_name, patch, message) => {
    const base: Record<string, unknown> = { signer: chain.accounts[1], chain, store: "memory" };
    const options = "options" in patch ? patch.options : { ...base, ...patch };
    const err = await createPerunClient(options as PerunClientOptions).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(PerunError);
    expect((err as PerunError).code).toMatch(/^INVALID_(ARGUMENT|POLICY)$/);
    expect((err as PerunError).message).toMatch(message);
  });

  it("checks the arguments of each operation before anything is sent", async () => {
    const bob = await client(2);
    const alice = await client(1, { peers: [bob] });
    const id = `0x${"ab".repeat(32)}` as const;
    const cases: [() => Promise<unknown>, RegExp][] = [
      [
        () => alice.openChannel({ peer: bob.address, deposit: 1 as never }),
        /deposit: expected a non-negative bigint/,
      ],
      [
        () => alice.openChannel({ peer: alice.address, deposit: 1n }),
        /peer: expected another party's address/,
      ],
      [
        () => alice.openChannel({ peer: bob.address, deposit: 0n }),
        /deposit: expected positive, or peerDeposit/,
      ],
      [
        () => alice.openChannel({ peer: bob.address, deposit: 1n, asset: "DAI" }),
        /asset: expected one of ETH/,
      ],
      [() => alice.pay(id, 0n), /pay amount: expected a positive bigint/],
      [() => alice.pay("0x12" as never, 1n), /pay channelID: expected a channel id/],
      [() => alice.pay(id, 1n), /Unknown channel|UNKNOWN_CHANNEL|no channel/i],
      [() => alice.settle(id, { force: "yes" as never }), /settle option force: expected a boolean/],
      [
        () =>
          alice.openVirtualChannel({ peer: bob.address, deposit: 1n, seconds: 60, directory: [{}] as never }),
        /directory\[0\]\.address/,
      ],
      [
        () =>
          alice.openVirtualChannel({
            peer: bob.address,
            deposit: 1n,
            seconds: 60,
            via: [bob.address],
            ledger: id,
            peerLedger: [],
            fee: [1n],
          }),
        /one entry each per intermediary/,
      ],
    ];
    for (const [p, message] of cases) {
      const err = await p().then(
        () => new Error("resolved"),
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(PerunError);
      expect(err.message).toMatch(message);
    }
    expect(() => alice.addPeer("0x12", "ws://x:1")).toThrow(/addPeer address/);
  });
});
