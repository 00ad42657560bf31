/**
 * Committed test vectors (house style rule 11): channel ids, state hashes, funding ids and signatures
 * for fixed keys, params and states, in test/vectors/channel-vectors.json. The same file is checked
 * against the contracts elsewhere. Here every value is checked against viem (encoder, keccak, EIP-191
 * signMessage) as well as our own code.
 *
 * Regenerate (only when the fixtures below change): PERUN_WRITE_VECTORS=1 npx vitest run src/channel/vectors
 */
import { readFileSync, writeFileSync } from "node:fs";
import { encodeAbiParameters, keccak256 } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { describe, expect, it } from "vitest";
import { FUNDING_ID_ABI, PARAMS_ABI, STATE_ABI, WITHDRAWAL_AUTH_ABI } from "./abi.js";
import { testKey } from "./arbitraries.testutil.js";
import { encodeParams, encodeState, encodeWithdrawalAuth } from "./encoding.js";
import { channelId, fundingId, hashState, hashWithdrawalAuth } from "./hash.js";
import { bytesToHex } from "./hex.js";
import { signState, signWithdrawalAuth, stateDigest } from "./sig.js";
import { privateKeyToSigner } from "./signer.js";
import type { Hex, Params, State, WithdrawalAuth } from "./types.js";
import { ZERO_ADDRESS } from "./types.js";

const FILE = new URL("../../test/vectors/channel-vectors.json", import.meta.url);

const names = ["alice", "bob", "ingrid"] as const;
const keys = Object.fromEntries(names.map((n) => [n, testKey(`perun-ts ${n}`)])) as Record<
  (typeof names)[number],
  Hex
>;
const signers = Object.fromEntries(names.map((n) => [n, privateKeyToSigner(keys[n])])) as Record<
  (typeof names)[number],
  ReturnType<typeof privateKeyToSigner>
>;
const part = (n: (typeof names)[number]) => ({ ethAddress: signers[n].address, ccAddress: "0x" as Hex });
const ETH_HOLDER = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const TOKEN_HOLDER = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
const ONE_ETH = 10n ** 18n;

function fixtures(): { name: string; signers: (typeof names)[number][]; params: Params; state: State }[] {
  const ledgerParams: Params = {
    challengeDuration: 3600n,
    nonce: 1n,
    participants: [part("alice"), part("bob")],
    app: ZERO_ADDRESS,
    ledgerChannel: true,
    virtualChannel: false,
  };
  const virtualParams: Params = {
    challengeDuration: 600n,
    nonce: 3n,
    participants: [part("alice"), part("bob")],
    app: ZERO_ADDRESS,
    ledgerChannel: false,
    virtualChannel: true,
  };
  const twoAssetParams: Params = {
    challengeDuration: 86400n,
    nonce: 0xdeadbeefn,
    participants: [part("alice"), { ethAddress: signers.ingrid.address, ccAddress: "0x0102030405" }],
    app: ZERO_ADDRESS,
    ledgerChannel: true,
    virtualChannel: false,
  };
  const virtualID = channelId(virtualParams);
  const ethAsset = { chainID: 1337n, ethHolder: ETH_HOLDER, ccHolder: "0x" } as const;
  return [
    {
      name: "ledger channel, one ETH asset",
      signers: ["alice", "bob"],
      params: ledgerParams,
      state: {
        channelID: channelId(ledgerParams),
        version: 1n,
        outcome: { assets: [ethAsset], backends: [0n], balances: [[ONE_ETH, 2n * ONE_ETH]], locked: [] },
        appData: "0x",
        isFinal: false,
      },
    },
    {
      name: "ledger channel, two assets, virtual channel locked",
      signers: ["alice", "ingrid"],
      params: twoAssetParams,
      state: {
        channelID: channelId(twoAssetParams),
        version: 42n,
        outcome: {
          assets: [ethAsset, { chainID: 1337n, ethHolder: TOKEN_HOLDER, ccHolder: "0xc0ffee" }],
          backends: [0n, 0n],
          balances: [
            [5n * ONE_ETH, 3n * ONE_ETH],
            [1000n, (1n << 255n) + 7n],
          ],
          locked: [{ ID: virtualID, balances: [ONE_ETH, 0n], indexMap: [0, 1] }],
        },
        appData: "0x",
        isFinal: true,
      },
    },
    {
      name: "virtual channel",
      signers: ["alice", "bob"],
      params: virtualParams,
      state: {
        channelID: virtualID,
        version: 0n,
        outcome: {
          assets: [ethAsset, { chainID: 1337n, ethHolder: TOKEN_HOLDER, ccHolder: "0xc0ffee" }],
          backends: [0n, 0n],
          balances: [
            [ONE_ETH / 2n, ONE_ETH / 2n],
            [0n, 0n],
          ],
          locked: [],
        },
        appData: "0x",
        isFinal: false,
      },
    },
  ];
}

/** JSON with bigints as decimal strings. */
const toJson = (v: unknown): unknown =>
  JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x)));

function generate(): unknown {
  const withdrawal: WithdrawalAuth = {
    channelID: fixtures()[0]!.state.channelID,
    participant: part("bob"),
    receiver: "0x000000000000000000000000000000000000bEEF",
    amount: 2n * ONE_ETH,
  };
  return {
    description:
      "perun-ts channel vectors (perun-eth-contracts v1.0.0 layout). bigints are decimal strings. " +
      "channelID = keccak256(abi.encode(params)); stateHash = keccak256(abi.encode(state)); " +
      "signatures are 65-byte r||s||v (v 27/28, low s, RFC 6979) over keccak256('\\x19Ethereum Signed Message:\\n32' || stateHash); " +
      "fundingIDs[addr] = keccak256(abi.encode(channelID, addr)).",
    keys: names.map((n) => ({
      name: n,
      keyPreimage: `perun-ts ${n}`,
      privateKey: keys[n],
      address: signers[n].address,
    })),
    channels: fixtures().map((f) => ({
      name: f.name,
      params: toJson(f.params),
      encodedParams: bytesToHex(encodeParams(f.params)),
      channelID: channelId(f.params),
      state: toJson(f.state),
      encodedState: bytesToHex(encodeState(f.state)),
      stateHash: hashState(f.state),
      signedDigest: bytesToHex(stateDigest(f.state)),
      signatures: Object.fromEntries(
        f.signers.map((n) => [signers[n].address, signState(f.state, signers[n])]),
      ),
      fundingIDs: Object.fromEntries(
        f.params.participants.map((p) => [p.ethAddress, fundingId(f.state.channelID, p.ethAddress)]),
      ),
    })),
    withdrawalAuths: [
      {
        auth: toJson(withdrawal),
        encoded: bytesToHex(encodeWithdrawalAuth(withdrawal)),
        hash: hashWithdrawalAuth(withdrawal),
        signature: signWithdrawalAuth(withdrawal, signers.bob),
      },
    ],
  };
}

if (process.env.PERUN_WRITE_VECTORS === "1") {
  writeFileSync(FILE, `${JSON.stringify(generate(), null, 2)}\n`);
}

// biome-ignore lint/suspicious/noExplicitAny: parsed JSON, checked field by field below
const file: any = JSON.parse(readFileSync(FILE, "utf8"));

describe("test/vectors/channel-vectors.json", () => {
  it("is what the code generates now", () => {
    expect(file).toEqual(generate());
  });

  it("keys derive the listed addresses (viem)", () => {
    for (const k of file.keys) expect(privateKeyToAccount(k.privateKey).address).toBe(k.address);
  });

  describe.each(fixtures().map((f, i) => [f.name, f, file.channels[i]] as const))("%s", (_name, f, v) => {
    it("params encoding and channel id agree with viem", () => {
      const enc = encodeAbiParameters(PARAMS_ABI, [f.params as never]);
      expect(v.encodedParams).toBe(enc);
      expect(v.channelID).toBe(keccak256(enc));
    });

    it("state encoding and hash agree with viem", () => {
      const enc = encodeAbiParameters(STATE_ABI, [f.state as never]);
      expect(v.encodedState).toBe(enc);
      expect(v.stateHash).toBe(keccak256(enc));
      expect(v.state.channelID).toBe(v.channelID);
    });

    it("signatures equal viem's signMessage over the state hash", async () => {
      for (const k of file.keys) {
        const sig = v.signatures[k.address];
        if (sig === undefined) continue;
        expect(sig).toBe(
          await privateKeyToAccount(k.privateKey).signMessage({ message: { raw: v.stateHash } }),
        );
      }
      expect(Object.keys(v.signatures)).toHaveLength(2);
    });

    it("funding ids agree with viem", () => {
      for (const [addr, id] of Object.entries(v.fundingIDs)) {
        expect(id).toBe(keccak256(encodeAbiParameters(FUNDING_ID_ABI, [v.channelID, addr as Hex])));
      }
    });
  });

  it("withdrawal auth agrees with viem", async () => {
    const w = file.withdrawalAuths[0];
    const auth = { ...w.auth, amount: BigInt(w.auth.amount) };
    const enc = encodeAbiParameters(WITHDRAWAL_AUTH_ABI, [auth]);
    expect(w.encoded).toBe(enc);
    expect(w.hash).toBe(keccak256(enc));
    const bob = file.keys.find((k: { name: string }) => k.name === "bob");
    expect(w.signature).toBe(
      await privateKeyToAccount(bob.privateKey).signMessage({ message: { raw: w.hash } }),
    );
  });
});
