/**
 * Channel ids, state hashes and withdrawal authorizations are hashed straight
 * from calldata (contracts/CalldataHash.sol), which equals keccak256(abi.encode(x))
 * for the standard ABI layout every encoder produces. Other layouts that
 * Solidity's decoder would accept (tails reordered, a gap between tails) must
 * only ever make the call fail; bytes appended after the arguments (as some
 * wallets add) must not matter.
 */
import { type Abi, encodeFunctionData, toFunctionSelector, type Hex as ViemHex } from "viem";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DisputePhase } from "../../src/chain/adjudicator.js";
import { AdjudicatorAbi, AssetHolderETHAbi } from "../../src/chain/generated/index.js";
import {
  type Asset,
  channelId,
  type Hex,
  type Params,
  type State,
  signWithdrawalAuth,
} from "../../src/channel/index.js";
import {
  assetOf,
  authFor,
  ETH,
  fund,
  holdingsOf,
  makeParams,
  makeState,
  sign,
  signerOf,
} from "../fixtures/channels.js";
import { type PerunChainFixture, perunChain, type Role } from "../fixtures/perun-chain.js";

const WORD = 64; // hex characters per 32-byte word

/** A custom error's selector as it appears in the embedded chain's revert message. */
const selector = (signature: string): string => toFunctionSelector(signature).slice(2);

/** The head offset (in bytes, after the selector) of argument `i` of `data`. */
const offsetOf = (data: string, i: number): number =>
  Number.parseInt(data.slice(10 + i * WORD, 10 + (i + 1) * WORD), 16);
const word = (n: number): string => n.toString(16).padStart(WORD, "0");

/** `data` with its arguments' head offsets replaced by `offsets` and everything after the head by `tails`. */
function relayout(data: string, nArgs: number, offsets: readonly number[], tails: string): ViemHex {
  const head = offsets.map(word).join("");
  expect(head.length).toBe(nArgs * WORD);
  return `0x${data.slice(2, 10)}${head}${tails}` as ViemHex;
}

/** The tail of argument i of a call whose arguments are all dynamic (hex, without 0x). */
function tail(data: string, i: number, nArgs: number): string {
  const start = 10 + offsetOf(data, i) * 2;
  const end = i + 1 < nArgs ? 10 + offsetOf(data, i + 1) * 2 : data.length;
  return data.slice(start, end);
}

describe("hashing from calldata", () => {
  let f: PerunChainFixture;
  let restore: () => Promise<void>;
  let parts: Role[];
  let params: Params;
  let id: Hex;
  let eth: Asset;
  let final: State;
  let call: string;
  beforeAll(async () => {
    f = await perunChain();
  });
  beforeEach(async () => {
    restore = await f.checkpoint();
    parts = [f.alice, f.bob];
    params = makeParams(parts);
    id = channelId(params);
    eth = assetOf(f.ethHolder);
    await fund(f.ethHolder, id, parts, [5n * ETH, 3n * ETH]);
    final = makeState(params, [eth], [[2n * ETH, 6n * ETH]], { version: 1n, isFinal: true });
    call = encodeFunctionData({
      abi: AdjudicatorAbi as Abi,
      functionName: "concludeFinal",
      args: [params, final, sign(final, parts)],
    });
  });
  afterEach(async () => {
    await restore();
  });

  /** Sends raw calldata to `to` from Ingrid (with a fixed gas limit: no estimation). */
  async function send(to: Hex, data: ViemHex): Promise<void> {
    const wallet = f.conn.wallet(f.ingrid.key);
    const hash = await wallet.sendTransaction({ to, data, gas: 2_000_000n } as never);
    const r = await f.conn.publicClient.waitForTransactionReceipt({ hash });
    if (r.status !== "success") throw new Error("reverted");
  }

  it("the standard layout concludes; bytes appended after the arguments change nothing", async () => {
    await send(f.adjudicator.address, `${call}${"ab".repeat(20)}` as ViemHex);
    expect(await f.adjudicator.dispute(id)).toMatchObject({ phase: DisputePhase.CONCLUDED });
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([2n * ETH, 6n * ETH]);
  });

  it("params and state tails in reverse order (decodable, not standard) revert NonCanonicalCalldata", async () => {
    const [p, s, g] = [0, 1, 2].map((i) => tail(call, i, 3)) as [string, string, string];
    const start = offsetOf(call, 0);
    const data = relayout(
      call,
      3,
      [start + s.length / 2, start, start + (s.length + p.length) / 2],
      s + p + g,
    );
    await expect(send(f.adjudicator.address, data)).rejects.toThrow(selector("NonCanonicalCalldata()"));
    expect(await f.adjudicator.dispute(id)).toBeUndefined();
  });

  it("a gap between the params and state tails (decodable, not standard) changes the hashes: the call fails", async () => {
    const [p, s, g] = [0, 1, 2].map((i) => tail(call, i, 3)) as [string, string, string];
    const start = offsetOf(call, 0);
    const gap = "00".repeat(32);
    const data = relayout(
      call,
      3,
      [start, start + (p.length + gap.length) / 2, start + (p.length + gap.length + s.length) / 2],
      p + gap + s + g,
    );
    // The id hashed includes the gap: no channel has it.
    await expect(send(f.adjudicator.address, data)).rejects.toThrow(
      selector("InvalidParams(bytes32,bytes32)"),
    );
    expect(await f.adjudicator.dispute(id)).toBeUndefined();
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([5n * ETH, 3n * ETH]);
  });

  it("a withdrawal authorization with a gap before the signature fails; the standard one pays", async () => {
    await f.adjudicator.concludeFinal(params, final, sign(final, parts));
    const auth = authFor(id, f.alice, 2n * ETH);
    const wcall = encodeFunctionData({
      abi: AssetHolderETHAbi as Abi,
      functionName: "withdraw",
      args: [auth, signWithdrawalAuth(auth, signerOf(f.alice))],
    });
    const [a, sig] = [0, 1].map((i) => tail(wcall, i, 2)) as [string, string];
    const start = offsetOf(wcall, 0);
    const gap = "00".repeat(32);
    const gapped = relayout(wcall, 2, [start, start + (a.length + gap.length) / 2], a + gap + sig);
    await expect(send(f.ethHolder.address, gapped)).rejects.toThrow(
      selector("InvalidAuthorization(bytes32)"),
    );
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([2n * ETH, 6n * ETH]);
    await send(f.ethHolder.address, wcall);
    expect(await holdingsOf(f.ethHolder, id, parts)).toEqual([0n, 6n * ETH]);
  });
});
