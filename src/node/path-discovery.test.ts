/**
 * Path discovery from published node data (path-discovery.ts): the graph several GET /v1/info and
 * GET /v1/graph answers describe, the path found in it as POST /v1/virtual fields, what is left out
 * of the graph, and the errors for malformed, mismatched or unreachable directory nodes. Pure, except
 * for the fetch wrapper, which talks to a tiny HTTP server in this process.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getAddress } from "viem";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rentalFee } from "../channel/fees.js";
import { NoPathError } from "../channel/pathfinding.js";
import type { Address, Hex } from "../channel/types.js";
import {
  buildChannelGraph,
  DirectoryError,
  type DirectoryNode,
  discoverPath,
  fetchDirectoryNode,
  parseDirectoryNode,
} from "../node/path-discovery.js";

// Checksummed (as the API publishes them) distinct addresses.
const A = getAddress("0xaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
const B = getAddress("0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
const I1 = "0x1111111111111111111111111111111111111111" as Address;
const I2 = "0x2222222222222222222222222222222222222222" as Address;
const I3 = "0x3333333333333333333333333333333333333333" as Address;
const ADJ = "0x4444444444444444444444444444444444444444" as Address;
const ETH = getAddress("0xeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee");
const TOKEN = "0x7070707070707070707070707070707070707070" as Address;
const id = (n: number): Hex => `0x${n.toString(16).padStart(2, "0").repeat(32)}` as Hex;

const terms = (baseFee: number) => ({
  baseFee: `${baseFee}`,
  ratePerSecondPerUnit: "0",
  maxDurationSeconds: 3600,
});
const info = (address: Address, intermediary: unknown = null, over: Record<string, unknown> = {}) => ({
  address,
  chainId: 31337,
  wireUrl: "ws://127.0.0.1:4001",
  adjudicator: ADJ,
  assets: { ETH },
  intermediary,
  ...over,
});
const ledger = (channelID: Hex, peer: Address, ours = 100, theirs = 100, holder = ETH) => ({
  channelID,
  peer,
  asset: { symbol: "ETH", holder },
  capacity: [`${ours}`, `${theirs}`],
});
const node = (address: Address, intermediary: unknown, ledgers: unknown[]): DirectoryNode =>
  parseDirectoryNode(`http://node-${address.slice(2, 4)}`, info(address, intermediary), { address, ledgers });

// A - I1 - B (I1 charges 3) and A - I2 - I3 - B (1 + 1); each channel listed by both of its ends.
const L = { aI1: id(1), i1B: id(2), aI2: id(3), i2I3: id(4), i3B: id(5) };
const world = (cap: Partial<Record<keyof typeof L, [number, number]>> = {}) => {
  const c = (k: keyof typeof L): [number, number] => cap[k] ?? [100, 100];
  const self = node(A, null, [ledger(L.aI1, I1, ...c("aI1")), ledger(L.aI2, I2, ...c("aI2"))]);
  const others = [
    node(I1, terms(3), [ledger(L.aI1, A, ...rev(c("aI1"))), ledger(L.i1B, B, ...c("i1B"))]),
    node(I2, terms(1), [ledger(L.aI2, A, ...rev(c("aI2"))), ledger(L.i2I3, I3, ...c("i2I3"))]),
    node(I3, terms(1), [ledger(L.i2I3, I2, ...rev(c("i2I3"))), ledger(L.i3B, B, ...c("i3B"))]),
    node(B, null, [ledger(L.i1B, I1, ...rev(c("i1B"))), ledger(L.i3B, I3, ...rev(c("i3B")))]),
  ];
  return { self, others };
};
const rev = ([x, y]: [number, number]): [number, number] => [y, x];
const req = { deposit: 10n, peerDeposit: 5n, seconds: 60n };

describe("discoverPath", () => {
  it("finds the cheapest path through several intermediaries, as POST /v1/virtual fields", () => {
    const { self, others } = world();
    expect(discoverPath(self, others, B, req)).toEqual({
      path: [A, I2, I3, B],
      via: [I2, I3],
      ledger: L.aI2,
      peerLedger: [L.i2I3, L.i3B],
      fees: [1n, 1n],
      totalFee: 2n,
      warnings: [],
    });
  });

  it("quotes each fee from the intermediary's terms for V's total and validity", () => {
    const t = { baseFee: "7", ratePerSecondPerUnit: "1000000000", maxDurationSeconds: 86_400 };
    const self = node(A, null, [ledger(L.aI1, I1, 10 ** 6, 10 ** 6)]);
    const i1 = node(I1, t, [ledger(L.i1B, B, 10 ** 6, 10 ** 6)]);
    const p = discoverPath(self, [i1], B, { deposit: 1000n, peerDeposit: 500n, seconds: 3600n });
    const fee = rentalFee(
      { baseFee: 7n, ratePerSecondPerUnit: 10n ** 9n, maxDurationSeconds: 86_400n },
      1500n,
      3600n,
    );
    expect(p).toMatchObject({ via: [I1], ledger: L.aI1, peerLedger: [L.i1B], fees: [fee] });
  });

  it("takes the dearer path when the cheap one lacks capacity, and none when both do", () => {
    // I3 cannot front V.alice's share (10) towards B.
    const { self, others } = world({ i3B: [9, 100] });
    expect(discoverPath(self, others, B, req)).toMatchObject({
      via: [I1],
      peerLedger: [L.i1B],
      totalFee: 3n,
    });
    // We cannot front 10 + I1's fee 3 towards I1 either.
    const w = world({ i3B: [9, 100], aI1: [12, 100] });
    expect(() => discoverPath(w.self, w.others, B, req)).toThrow(NoPathError);
  });

  it("uses the smaller capacity when the two ends of a channel differ (an update under way)", () => {
    const { self, others } = world();
    // I3 says it can front 100 towards B; B says I3 has only 9.
    const b = node(B, null, [ledger(L.i1B, I1), ledger(L.i3B, I3, 100, 9)]);
    const p = discoverPath(self, [...others.slice(0, 3), b], B, req);
    expect(p.via).toEqual([I1]);
  });

  it("leaves out a channel its ends describe differently, with a warning", () => {
    const { self, others } = world();
    // B claims I2-I3's id as a channel of its own with I2.
    const b = node(B, null, [ledger(L.i1B, I1), ledger(L.i3B, I3), ledger(L.i2I3, I2)]);
    const p = discoverPath(self, [...others.slice(0, 3), b], B, req);
    expect(p.via).toEqual([I1]);
    expect(p.warnings).toEqual([expect.stringMatching(new RegExp(`left out ${L.i2I3}`))]);
  });

  it("believes only our own node about our channels", () => {
    const self = node(A, null, [ledger(L.aI1, I1, 0, 100)]); // we cannot front anything
    const i1 = node(I1, terms(1), [ledger(L.aI1, A, 100, 100), ledger(id(9), A), ledger(L.i1B, B)]);
    const { graph } = buildChannelGraph(self, [i1], ETH);
    expect(graph.edges).toEqual([
      { from: A, to: I1, capacityFrom: 0n, capacityTo: 100n },
      { from: I1, to: B, capacityFrom: 100n, capacityTo: 100n },
    ]);
    expect(() => discoverPath(self, [i1], B, req)).toThrow(/lack capacity/);
  });

  it("builds the graph of our ETH asset only; a node listed twice counts once", () => {
    const self = node(A, null, [ledger(L.aI1, I1), ledger(id(8), I1, 100, 100, TOKEN)]);
    const i1 = node(I1, terms(2), [ledger(L.i1B, B)]);
    const { graph, channelIDs } = buildChannelGraph(self, [i1, i1, self], ETH);
    expect(graph.nodes).toEqual([A, I1, B]);
    expect(channelIDs).toEqual([L.aI1, L.i1B]);
    expect(graph.intermediaries).toEqual([
      { address: I1, terms: { baseFee: 2n, ratePerSecondPerUnit: 0n, maxDurationSeconds: 3600n } },
    ]);
  });

  it("finds no path to a peer nobody knows, or to ourselves", () => {
    const { self, others } = world();
    const stranger = "0x5555555555555555555555555555555555555555" as Address;
    expect(() => discoverPath(self, others, stranger, req)).toThrow(/not in the directory/);
    expect(() => discoverPath(self, others, A, req)).toThrow(/our own node/);
  });

  it("refuses a directory node on another chain or adjudicator", () => {
    const { self, others } = world();
    const far = parseDirectoryNode("http://far", info(I3, terms(1), { chainId: 1 }), {
      address: I3,
      ledgers: [],
    });
    const err = (() => {
      try {
        discoverPath(self, [...others, far], B, req);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DirectoryError);
    expect(err).toMatchObject({ code: "DIRECTORY_MISMATCH", url: "http://far" });
  });
});

describe("parseDirectoryNode", () => {
  it("reads terms, ledgers (ids lower case) and the node's identity", () => {
    const n = parseDirectoryNode("http://x", info(I1, terms(1)), {
      address: I1,
      ledgers: [ledger(`0x${"AB".repeat(32)}` as Hex, B, 5, 6)],
    });
    expect(n).toMatchObject({
      address: I1,
      chainId: 31337,
      terms: { baseFee: 1n, ratePerSecondPerUnit: 0n, maxDurationSeconds: 3600n },
      ledgers: [{ channelID: `0x${"ab".repeat(32)}`, peer: B, holder: ETH, capacity: [5n, 6n] }],
    });
    // A node from before virtual channels publishes no `intermediary`.
    const { intermediary: _, ...old } = info(I1);
    expect(parseDirectoryNode("http://x", old, { address: I1, ledgers: [] }).terms).toBeNull();
  });

  const I = info(I1, terms(1));
  const G = (l: Record<string, unknown> = {}) => ({ address: I1, ledgers: [{ ...ledger(L.i1B, B), ...l }] });
  it.each<[string, unknown, unknown, RegExp]>([
    ["info not an object", [1], G(), /GET \/v1\/info \(not an object\)/],
    ["address not an address", { ...I, address: "ingrid" }, G(), /info\.address/],
    // Mixed case with a wrong checksum (A's is 0xaAaA...): a typo, not an address.
    ["address with a bad checksum", { ...I, address: `0xAaAa${A.slice(6)}` }, G(), /info\.address/],
    ["chainId a string", { ...I, chainId: "31337" }, G(), /info\.chainId/],
    ["assets not addresses", { ...I, assets: { ETH: 1 } }, G(), /info\.assets\.ETH/],
    [
      "terms with a number fee",
      { ...I, intermediary: { ...terms(1), baseFee: 1 } },
      G(),
      /terms .* malformed/,
    ],
    [
      "terms with a negative duration",
      { ...I, intermediary: { ...terms(1), maxDurationSeconds: -1 } },
      G(),
      /terms .* malformed/,
    ],
    ["terms a string", { ...I, intermediary: "cheap" }, G(), /terms .* malformed/],
    ["graph null", I, null, /GET \/v1\/graph \(not an object\)/],
    ["ledgers not an array", I, { address: I1, ledgers: {} }, /graph\.ledgers/],
    ["a ledger not an object", I, { address: I1, ledgers: ["x"] }, /graph\.ledgers\[0\]/],
    ["channel id short", I, G({ channelID: "0x12" }), /ledgers\[0\]\.channelID/],
    ["peer missing", I, G({ peer: undefined }), /ledgers\[0\]\.peer/],
    ["asset a symbol", I, G({ asset: "ETH" }), /ledgers\[0\]\.asset/],
    ["capacity in numbers", I, G({ capacity: [1, 2] }), /capacity/],
    ["capacity negative", I, G({ capacity: ["-1", "2"] }), /capacity/],
    ["capacity of three", I, G({ capacity: ["1", "2", "3"] }), /capacity/],
    [
      "a channel listed twice",
      I,
      { address: I1, ledgers: [ledger(L.i1B, B), ledger(L.i1B.toUpperCase().replace("0X", "0x") as Hex, B)] },
      /ledgers\[1\]\.channelID \(listed twice\)/,
    ],
  ])("%s -> DIRECTORY_INVALID", (_name, i, g, message) => {
    const err = (() => {
      try {
        parseDirectoryNode("http://x", i, g);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(DirectoryError);
    expect(err).toMatchObject({ code: "DIRECTORY_INVALID", url: "http://x" });
    expect((err as Error).message).toMatch(message);
  });

  it("refuses a graph of another address than the info", () => {
    expect(() => parseDirectoryNode("http://x", info(I1), { address: I2, ledgers: [] })).toThrow(
      expect.objectContaining({ code: "DIRECTORY_MISMATCH" }),
    );
  });
});

describe("fetchDirectoryNode", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const answers: Record<string, [number, string]> = {
        "/good/v1/info": [200, JSON.stringify(info(I1, terms(1)))],
        "/good/v1/graph": [200, JSON.stringify({ address: I1, ledgers: [ledger(L.i1B, B)] })],
        "/old/v1/info": [200, JSON.stringify(info(I1))],
        "/old/v1/graph": [404, JSON.stringify({ error: { code: "NOT_FOUND" } })],
        "/html/v1/info": [200, "<html></html>"],
        "/html/v1/graph": [200, "<html></html>"],
      };
      const [status, body] = answers[req.url ?? ""] ?? [500, "{}"];
      res.writeHead(status, { "content-type": "application/json" }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it("fetches and checks GET /v1/info and /v1/graph", async () => {
    const n = await fetchDirectoryNode(`${url}/good/`);
    expect(n).toMatchObject({ url: `${url}/good`, address: I1, ledgers: [{ channelID: L.i1B }] });
  });

  it.each([
    ["a node without /v1/graph", "/old", "DIRECTORY_INVALID", /failed with 404 NOT_FOUND/],
    ["an answer that is no JSON", "/html", "DIRECTORY_INVALID", /with no JSON/],
  ])("%s -> %s", async (_name, path, code, message) => {
    const err = await fetchDirectoryNode(url + path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DirectoryError);
    expect(err).toMatchObject({ code });
    expect((err as Error).message).toMatch(message);
  });

  it("an unreachable node -> DIRECTORY_UNREACHABLE naming its URL", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const err = await fetchDirectoryNode(`http://127.0.0.1:${port}`).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "DIRECTORY_UNREACHABLE", url: `http://127.0.0.1:${port}` });
    expect((err as Error).message).toContain(`Cannot reach the node API at http://127.0.0.1:${port}`);
  });
});
