/**
 * The committed channel vectors (test/vectors/channel-vectors.json) against the
 * deployed Adjudicator: same channel ids and state hashes, and the vector
 * signatures are accepted on chain. The vectors' assets live on chain 1337, not
 * on the test chain, so registering and concluding never touches their holders.
 */
import { readFileSync } from "node:fs";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DisputePhase } from "../../src/chain/adjudicator.js";
import { increaseTime } from "../../src/chain/devtools.js";
import type { Hex, Params, State } from "../../src/channel/index.js";
import { signed, updatesIn } from "../fixtures/channels.js";
import { type PerunChainFixture, perunChain } from "../fixtures/perun-chain.js";

interface Vector {
  readonly name: string;
  readonly params: Params;
  readonly state: State;
  readonly channelID: Hex;
  readonly stateHash: Hex;
  readonly sigs: Hex[];
}

const BIGINT_FIELDS = new Set(["challengeDuration", "nonce", "version", "chainID"]);

/** JSON vectors with decimal strings back to bigints (numeric fields and balance matrices). */
function revive(key: string, value: unknown): unknown {
  if (typeof value === "string" && BIGINT_FIELDS.has(key)) return BigInt(value);
  if ((key === "backends" || key === "balances") && Array.isArray(value)) {
    return value.map((x) => (Array.isArray(x) ? x.map((y) => BigInt(y as string)) : BigInt(x as string)));
  }
  return value;
}

function loadVectors(): Vector[] {
  const text = readFileSync(new URL("../vectors/channel-vectors.json", import.meta.url), "utf8");
  const file = JSON.parse(text, revive) as {
    channels: {
      name: string;
      params: Params;
      state: State;
      channelID: Hex;
      stateHash: Hex;
      signatures: Record<string, Hex>;
    }[];
  };
  return file.channels.map((c) => ({
    name: c.name,
    params: c.params,
    state: c.state,
    channelID: c.channelID,
    stateHash: c.stateHash,
    // Signatures are keyed by address; the contract wants them in participant order.
    sigs: c.params.participants.map((p) => {
      const sig = c.signatures[p.ethAddress];
      if (sig === undefined) throw new Error(`vector ${c.name}: no signature of ${p.ethAddress}`);
      return sig;
    }),
  }));
}

const vectors = loadVectors();
const byName = (name: string): Vector => {
  const v = vectors.find((x) => x.name === name);
  if (!v) throw new Error(`no vector ${name}`);
  return v;
};

describe("channel vectors on chain", () => {
  let f: PerunChainFixture;
  let restore: () => Promise<void>;
  beforeAll(async () => {
    f = await perunChain();
  });
  beforeEach(async () => {
    restore = await f.checkpoint();
  });
  afterEach(async () => {
    await restore();
  });

  it("has the three expected vectors", () => {
    expect(vectors.map((v) => v.name)).toEqual([
      "ledger channel, one ETH asset",
      "ledger channel, two assets, virtual channel locked",
      "virtual channel",
    ]);
  });

  it.each(
    vectors.map((v) => [v.name, v] as const),
  )("channelID(params) and hashState(state) equal the vector (%s)", async (_name, v) => {
    expect(await f.adjudicator.channelID(v.params)).toBe(v.channelID);
    expect(await f.adjudicator.hashState(v.state)).toBe(v.stateHash);
    expect(v.state.channelID).toBe(v.channelID);
  });

  it("accepts the signatures of the one-asset ledger vector (register)", async () => {
    const v = byName("ledger channel, one ETH asset");
    const r = await f.adjudicator.register({ params: v.params, state: v.state, sigs: v.sigs });
    const d = await f.adjudicator.dispute(v.channelID);
    expect(d).toMatchObject({
      phase: DisputePhase.DISPUTE,
      version: v.state.version,
      stateHash: v.stateHash,
    });
    expect(updatesIn(r)).toEqual([
      { channelID: v.channelID, version: v.state.version, phase: DisputePhase.DISPUTE, timeout: d?.timeout },
    ]);
  });

  it("rejects the vector signatures in swapped order", async () => {
    const v = byName("ledger channel, one ETH asset");
    const sigs = [v.sigs[1] as Hex, v.sigs[0] as Hex];
    await expect(
      f.adjudicator.register({ params: v.params, state: v.state, sigs }, []),
    ).rejects.toMatchObject({
      errorName: "InvalidSignature",
      args: [v.channelID, 0n],
    });
  });

  it("accepts the final two-asset ledger vector with its locked virtual channel vector (register, conclude)", async () => {
    const l = byName("ledger channel, two assets, virtual channel locked");
    const vc = byName("virtual channel");
    expect(l.state.outcome.locked[0]?.ID).toBe(vc.channelID);
    const r = await f.adjudicator.register({ params: l.params, state: l.state, sigs: l.sigs }, [
      { params: vc.params, state: vc.state, sigs: vc.sigs },
    ]);
    const ups = updatesIn(r);
    expect(ups.map((u) => [u.channelID, u.version, u.phase])).toEqual([
      [l.channelID, l.state.version, DisputePhase.DISPUTE],
      [vc.channelID, vc.state.version, DisputePhase.DISPUTE],
    ]);
    expect((await f.adjudicator.dispute(l.channelID))?.stateHash).toBe(l.stateHash);
    expect((await f.adjudicator.dispute(vc.channelID))?.stateHash).toBe(vc.stateHash);
    // A final state that still locks a channel is not final for registration: it gets the whole
    // challenge duration, like any other (docs/contracts.md). The assets are on chain 1337, so nothing
    // is paid out here.
    const timeout = (await f.adjudicator.dispute(l.channelID))?.timeout;
    expect(timeout).toBe(ups[0]?.timeout);
    await expect(f.adjudicator.conclude(l.params, l.state, [vc.state])).rejects.toMatchObject({
      errorName: "TimeoutNotPassed",
      args: [l.channelID, timeout],
    });
    const [lcd, vcd] = [l.params.challengeDuration, vc.params.challengeDuration];
    await increaseTime(f.conn, lcd > vcd ? lcd : vcd);
    await f.adjudicator.conclude(l.params, l.state, [vc.state]);
    expect((await f.adjudicator.dispute(l.channelID))?.phase).toBe(DisputePhase.CONCLUDED);
    expect((await f.adjudicator.dispute(vc.channelID))?.phase).toBe(DisputePhase.CONCLUDED);
  });

  it("the final ledger vector cannot be concluded with concludeFinal because it locks funds", async () => {
    const l = byName("ledger channel, two assets, virtual channel locked");
    await expect(f.adjudicator.concludeFinal(l.params, l.state, l.sigs)).rejects.toMatchObject({
      errorName: "HasLockedFunds",
    });
  });

  it("the vector keys are not needed: re-signing with other keys is rejected", async () => {
    const v = byName("ledger channel, one ETH asset");
    const forged = signed(v.params, v.state, [f.alice, f.bob]);
    await expect(f.adjudicator.register(forged)).rejects.toMatchObject({ errorName: "InvalidSignature" });
  });
});
