/**
 * The signing policy, rule by rule, without I/O: each row is one thing a peer or a caller may choose,
 * at and just beyond every bound, with the rule that must refuse it (or none). The attacks of
 * docs/security.md that the policy stops are among the rows (rogue holder, foreign chain, the same
 * asset twice, 1 s and 2^64 s challenge durations, a deposit beyond the cap, a short ledger channel
 * under a long virtual channel, a rental beyond the terms).
 */
import { describe, expect, it } from "vitest";
import { rentalFee } from "./fees.js";
import {
  checkIntermediaryLock,
  checkLedgerChannel,
  checkPathSender,
  checkUpdate,
  checkVirtualChannel,
  DEV_CHAIN_BOUNDS,
  devChainPolicy,
  enforce,
  type IntermediaryLockRequest,
  InvalidPolicyError,
  type LedgerChannelRequest,
  MAX_SECONDS,
  POLICY_DEFAULTS,
  PolicyRefusedError,
  type PolicyRule,
  type SigningPolicy,
  signingPolicy,
  type VirtualChannelRequest,
} from "./policy.js";
import type { Address, Asset, Params, State } from "./types.js";
import { ZERO_ADDRESS } from "./types.js";
import { ALICE, addr, BOB, INGRID, ledgerParams, ledgerState, virtualFixture } from "./virtual.testutil.js";

const CHAIN = 1337n;
const HOLDER = addr(0xe7);
const TOKEN_HOLDER = addr(0x70);
const ROGUE = addr(0x66);
const APP = addr(0xa9);
const ETH: Asset = { chainID: CHAIN, ethHolder: HOLDER, ccHolder: "0x" };
const TOKEN: Asset = { chainID: CHAIN, ethHolder: TOKEN_HOLDER, ccHolder: "0x" };

const policy: SigningPolicy = signingPolicy({
  chainId: CHAIN,
  assetHolders: [HOLDER.toUpperCase().replace("0X", "0x") as Address, TOKEN_HOLDER],
  challengeDuration: { min: 100n, max: 1_000n },
  fundingTimeout: { min: 50n, max: 500n },
  maxDeposit: { [HOLDER.toUpperCase().replace("0X", "0x")]: 10n },
  virtualSeconds: 3_600n,
  challengeMargin: 60n,
  apps: [APP],
});

type Verdictish = { ok: true } | { ok: false; rule: PolicyRule; reason: string };
const ruleOf = (v: Verdictish): PolicyRule | null => (v.ok ? null : v.rule);

// ---------------------------------------------------------------- ledger channels

function ledgerRequest(
  over: {
    params?: Partial<Params>;
    assets?: Asset[];
    balances?: bigint[][];
    state?: Partial<State>;
    fundingTimeout?: bigint;
    ours?: boolean;
    idx?: number;
  } = {},
): LedgerChannelRequest {
  const params: Params = { ...ledgerParams([ALICE, BOB]), challengeDuration: 100n, ...over.params };
  const assets = over.assets ?? [ETH];
  const balances = over.balances ?? assets.map(() => [5n, 10n]);
  const initial: State = { ...ledgerState(params, assets, balances, 0n), ...over.state };
  return {
    params,
    initial,
    fundingTimeout: over.fundingTimeout ?? 50n,
    idx: over.idx ?? 1,
    ours: over.ours ?? false,
  };
}

describe("checkLedgerChannel", () => {
  const rows: [string, LedgerChannelRequest, PolicyRule | null][] = [
    ["a channel within every bound (at the lower bounds, our deposit at the cap)", ledgerRequest(), null],
    [
      "at the upper bounds",
      ledgerRequest({ params: { challengeDuration: 1_000n }, fundingTimeout: 500n }),
      null,
    ],
    [
      "three participants",
      ledgerRequest({
        params: { participants: [ALICE, BOB, INGRID].map((a) => ({ ethAddress: a, ccAddress: "0x" })) },
        balances: [[1n, 1n, 1n]],
      }),
      "participants",
    ],
    ["not a ledger channel", ledgerRequest({ params: { ledgerChannel: false } }), "channel-kind"],
    ["a ledger channel flagged virtual", ledgerRequest({ params: { virtualChannel: true } }), "channel-kind"],
    ["an app we have no rules of", ledgerRequest({ params: { app: addr(0x55) } }), "app"],
    ["an app we know", ledgerRequest({ params: { app: APP } }), null],
    [
      "challenge duration 1 s below the minimum",
      ledgerRequest({ params: { challengeDuration: 99n } }),
      "challenge-duration",
    ],
    [
      "challenge duration 1 s (the attack)",
      ledgerRequest({ params: { challengeDuration: 1n } }),
      "challenge-duration",
    ],
    [
      "challenge duration 1 s above the maximum",
      ledgerRequest({ params: { challengeDuration: 1_001n } }),
      "challenge-duration",
    ],
    [
      "challenge duration 2^64 (the attack)",
      ledgerRequest({ params: { challengeDuration: 1n << 64n } }),
      "challenge-duration",
    ],
    ["funding timeout below the minimum", ledgerRequest({ fundingTimeout: 49n }), "funding-timeout"],
    ["funding timeout above the maximum", ledgerRequest({ fundingTimeout: 501n }), "funding-timeout"],
    ["no asset", ledgerRequest({ assets: [], balances: [] }), "asset-count"],
    [
      "an asset of another chain (the attack: chain 1)",
      ledgerRequest({ assets: [{ ...ETH, chainID: 1n }] }),
      "asset-chain",
    ],
    [
      "an asset at a holder the peer deployed (the attack)",
      ledgerRequest({ assets: [{ ...ETH, ethHolder: ROGUE }] }),
      "asset-holder",
    ],
    [
      "the same asset twice (the attack)",
      ledgerRequest({
        assets: [ETH, ETH],
        balances: [
          [1n, 1n],
          [1n, 1n],
        ],
      }),
      "asset-duplicate",
    ],
    [
      "the same holder twice in another hex case",
      ledgerRequest({
        assets: [ETH, { ...ETH, ethHolder: HOLDER.toUpperCase().replace("0X", "0x") as Address }],
        balances: [
          [1n, 1n],
          [1n, 1n],
        ],
      }),
      "asset-duplicate",
    ],
    [
      "two different configured assets",
      ledgerRequest({
        assets: [ETH, TOKEN],
        balances: [
          [1n, 1n],
          [1n, 0n],
        ],
      }),
      null,
    ],
    [
      "an asset of another backend",
      {
        ...ledgerRequest(),
        initial: {
          ...ledgerRequest().initial,
          outcome: { ...ledgerRequest().initial.outcome, backends: [1n] },
        },
      },
      "asset-backend",
    ],
    ["an initial state of version 1", ledgerRequest({ state: { version: 1n } }), "initial-state"],
    ["a final initial state", ledgerRequest({ state: { isFinal: true } }), "initial-state"],
    [
      "an initial state that locks a sub-channel",
      ledgerRequest({
        state: {
          outcome: {
            assets: [ETH],
            backends: [0n],
            balances: [[5n, 5n]],
            locked: [{ ID: `0x${"ab".repeat(32)}`, balances: [5n], indexMap: [0, 1] }],
          },
        },
      }),
      "initial-state",
    ],
    ["our deposit one above the cap", ledgerRequest({ balances: [[5n, 11n]] }), "deposit-cap"],
    ["our deposit at index 0 above the cap", ledgerRequest({ balances: [[11n, 0n]], idx: 0 }), "deposit-cap"],
    ["the peer's deposit above our cap is fine", ledgerRequest({ balances: [[1_000n, 0n]] }), null],
    [
      "any deposit into an asset without a cap is refused",
      ledgerRequest({ assets: [TOKEN], balances: [[0n, 1n]] }),
      "deposit-cap",
    ],
    [
      "nothing of ours in an asset without a cap",
      ledgerRequest({ assets: [TOKEN], balances: [[7n, 0n]] }),
      null,
    ],
    [
      "our own proposal: the deposit is the user's choice",
      ledgerRequest({ balances: [[1_000n, 1_000n]], idx: 0, ours: true }),
      null,
    ],
    [
      "our own proposal is still bounded",
      ledgerRequest({ params: { challengeDuration: 1n }, idx: 0, ours: true }),
      "challenge-duration",
    ],
  ];
  it.each(rows)("%s", (_name, req, rule) => {
    const v = checkLedgerChannel(policy, req);
    expect(ruleOf(v)).toBe(rule);
    if (!v.ok) expect(v.reason.length).toBeGreaterThan(10);
  });

  it("says which bound and which value in its reasons", () => {
    const v = checkLedgerChannel(policy, ledgerRequest({ params: { challengeDuration: 1n } }));
    expect(v).toEqual({
      ok: false,
      rule: "challenge-duration",
      reason: "challenge duration 1 s is outside 100..1000 s",
    });
    const cap = checkLedgerChannel(policy, ledgerRequest({ balances: [[5n, 11n]] }));
    expect(cap).toEqual({
      ok: false,
      rule: "deposit-cap",
      reason: "our deposit of asset 0 would be 11, more than our cap of 10",
    });
    const chain = checkLedgerChannel(policy, ledgerRequest({ assets: [{ ...ETH, chainID: 1n }] }));
    expect(chain).toMatchObject({ reason: "asset 0 is on chain 1, not on our chain 1337" });
  });
});

// ---------------------------------------------------------------- virtual channels (as an end)

function virtualRequest(
  over: Partial<VirtualChannelRequest> & { cd?: bigint; assets?: Asset[]; shares?: [bigint, bigint][] } = {},
): VirtualChannelRequest {
  const v = virtualFixture(over.assets ?? [ETH], over.shares ?? [[3n, 10n]]);
  const params =
    over.cd === undefined
      ? { ...v.params, challengeDuration: 100n }
      : { ...v.params, challengeDuration: over.cd };
  return {
    params,
    initial: { ...v.initial, channelID: v.initial.channelID },
    expiry: 1_000n + 3_600n,
    now: 1_000n,
    idx: 1,
    ours: false,
    ledgerChallenge: 100n,
    ...over,
  };
}

describe("checkVirtualChannel", () => {
  const rows: [string, VirtualChannelRequest, PolicyRule | null][] = [
    [
      "within every bound (longest validity, staircase exactly met, share at the cap)",
      virtualRequest(),
      null,
    ],
    ["a validity one second too long", virtualRequest({ expiry: 1_000n + 3_601n }), "virtual-expiry"],
    ["already expired", virtualRequest({ expiry: 1_000n }), "virtual-expiry"],
    ["expires in one second", virtualRequest({ expiry: 1_001n }), null],
    [
      "challenge duration 2^64 (the attack)",
      virtualRequest({ cd: 1n << 64n, ledgerChallenge: 1n << 65n }),
      "challenge-duration",
    ],
    ["challenge duration below the minimum", virtualRequest({ cd: 99n }), "challenge-duration"],
    [
      "our ledger channel shorter than V (the staircase)",
      virtualRequest({ ledgerChallenge: 99n }),
      "staircase",
    ],
    ["our share above the cap", virtualRequest({ shares: [[3n, 11n]] }), "deposit-cap"],
    ["our share above the cap at index 0", virtualRequest({ shares: [[11n, 0n]], idx: 0 }), "deposit-cap"],
    [
      "our own V: the share is the user's choice",
      virtualRequest({ shares: [[500n, 11n]], idx: 0, ours: true }),
      null,
    ],
    [
      "an asset at a rogue holder",
      virtualRequest({ assets: [{ ...ETH, ethHolder: ROGUE }] }),
      "asset-holder",
    ],
    ["an asset of another chain", virtualRequest({ assets: [{ ...ETH, chainID: 1n }] }), "asset-chain"],
  ];
  it.each(rows)("%s", (_name, req, rule) => {
    expect(ruleOf(checkVirtualChannel(policy, req))).toBe(rule);
  });

  it("says how long V would live and what our limit is", () => {
    expect(checkVirtualChannel(policy, virtualRequest({ expiry: 1_000n + 3_601n }))).toEqual({
      ok: false,
      rule: "virtual-expiry",
      reason: "it would live 3601 s, longer than our limit of 3600 s",
    });
  });

  it("refuses anything that is not a two-party virtual payment channel", () => {
    const base = virtualRequest();
    const three = {
      ...base.params,
      participants: [ALICE, INGRID, BOB].map((a) => ({ ethAddress: a, ccAddress: "0x" as const })),
    };
    expect(ruleOf(checkVirtualChannel(policy, { ...base, params: three }))).toBe("participants");
    // The `ledgerChannel` flag of a virtual channel: set, it could be concluded on its own.
    expect(
      ruleOf(checkVirtualChannel(policy, { ...base, params: { ...base.params, ledgerChannel: true } })),
    ).toBe("channel-kind");
    expect(
      ruleOf(checkVirtualChannel(policy, { ...base, params: { ...base.params, virtualChannel: false } })),
    ).toBe("channel-kind");
    // An app whose rules we do not have.
    expect(
      ruleOf(checkVirtualChannel(policy, { ...base, params: { ...base.params, app: addr(0xb9) } })),
    ).toBe("app");
    // An app whose rules we have (APP): a virtual state channel, its first state the app's.
    const known = policy;
    expect(
      checkVirtualChannel(known, {
        ...base,
        params: { ...base.params, app: APP },
        initial: { ...base.initial, appData: "0x01" },
      }),
    ).toEqual({ ok: true });
    expect(
      ruleOf(checkVirtualChannel(known, { ...base, initial: { ...base.initial, appData: "0x01" } })),
    ).toBe("initial-state");
    expect(
      ruleOf(
        checkVirtualChannel(known, {
          ...base,
          params: { ...base.params, app: APP },
          initial: { ...base.initial, appData: "0x01", isFinal: true },
        }),
      ),
    ).toBe("initial-state");
    for (const state of [
      { version: 1n },
      { isFinal: true },
      { appData: "0x01" as const },
      {
        outcome: {
          ...base.initial.outcome,
          locked: [{ ID: `0x${"cd".repeat(32)}` as const, balances: [1n], indexMap: [0, 1] }],
        },
      },
    ]) {
      expect(ruleOf(checkVirtualChannel(policy, { ...base, initial: { ...base.initial, ...state } }))).toBe(
        "initial-state",
      );
    }
  });
});

// ---------------------------------------------------------------- updates

describe("checkUpdate", () => {
  it("gains-only signs what does not lower any of our balances, and names the asset it would lower", () => {
    expect(checkUpdate(policy, { delta: [0n, 5n] })).toEqual({ ok: true });
    expect(checkUpdate(policy, { delta: [] })).toEqual({ ok: true });
    expect(checkUpdate(policy, { delta: [-1n, 0n] })).toMatchObject({ ok: false, rule: "gains-only" });
    expect(checkUpdate(policy, { delta: [5n, -1n] })).toEqual({
      ok: false,
      rule: "gains-only",
      reason: "it lowers our balance of asset 1 by 1",
    });
  });
  it('"all" signs any valid update', () => {
    expect(checkUpdate({ ...policy, updates: "all" }, { delta: [-5n] })).toEqual({ ok: true });
  });
  it("signs an app move that lowers our balance (the peer could force it on chain), only an app move", () => {
    expect(checkUpdate(policy, { delta: [-5n], appMove: true })).toEqual({ ok: true });
    expect(checkUpdate(policy, { delta: [-5n], appMove: false })).toMatchObject({
      ok: false,
      rule: "gains-only",
    });
  });
});

// ---------------------------------------------------------------- intermediary locks

const terms = { baseFee: 10n, ratePerSecondPerUnit: 10n ** 15n, maxDurationSeconds: 3_600n };

function lockRequest(over: Partial<IntermediaryLockRequest> = {}): IntermediaryLockRequest {
  const v = virtualFixture([ETH], [[3n * 10n ** 18n, 1n * 10n ** 18n]]);
  const vParams = { ...v.params, challengeDuration: 100n };
  const seconds = 3_600n;
  return {
    vParams,
    vInitial: v.initial,
    expiry: 1_000n + seconds,
    now: 1_000n,
    terms,
    fee: [rentalFee(terms, 4n * 10n ** 18n, seconds)],
    leftChallenge: 160n,
    rightChallenge: 100n,
    last: false,
    ...over,
  };
}

describe("checkIntermediaryLock", () => {
  const wanted = rentalFee(terms, 4n * 10n ** 18n, 3_600n);
  const rows: [string, IntermediaryLockRequest, PolicyRule | null][] = [
    ["exactly at every bound (fee, rental, staircase, margin)", lockRequest(), null],
    ["a fee one wei short", lockRequest({ fee: [wanted - 1n] }), "fee"],
    ["no fee at all", lockRequest({ fee: [] }), "fee"],
    [
      "a rental one second longer than the terms allow (the attack)",
      lockRequest({ expiry: 1_000n + 3_601n }),
      "rental-duration",
    ],
    ["expired", lockRequest({ expiry: 1_000n }), "virtual-expiry"],
    [
      "the ledger towards Alice shorter than V (the attack)",
      lockRequest({ leftChallenge: 99n, rightChallenge: 39n }),
      "staircase",
    ],
    ["the ledger towards Bob shorter than V", lockRequest({ rightChallenge: 99n }), "staircase"],
    ["the margin missed by one second", lockRequest({ leftChallenge: 159n }), "challenge-margin"],
    ["the last intermediary needs no margin", lockRequest({ leftChallenge: 100n, last: true }), null],
    [
      "V's challenge duration 2^64 (the attack)",
      lockRequest({ vParams: { ...lockRequest().vParams, challengeDuration: 1n << 64n } }),
      "challenge-duration",
    ],
  ];
  it.each(rows)("%s", (_name, req, rule) => {
    expect(ruleOf(checkIntermediaryLock(policy, req))).toBe(rule);
  });

  it("a rental longer than the terms is a refusal, not an exception (the held lock gets its answer)", () => {
    expect(() => checkIntermediaryLock(policy, lockRequest({ expiry: 10n ** 12n }))).not.toThrow();
  });

  it("charges for the whole collateral (both shares) over the remaining time", () => {
    const later = lockRequest({ now: 1_600n, fee: [rentalFee(terms, 4n * 10n ** 18n, 3_000n)] });
    expect(checkIntermediaryLock(policy, later)).toEqual({ ok: true });
    const onlyAlice = rentalFee(terms, 3n * 10n ** 18n, 3_600n);
    expect(ruleOf(checkIntermediaryLock(policy, lockRequest({ fee: [onlyAlice] })))).toBe("fee");
  });
});

// ---------------------------------------------------------------- relayed messages

describe("checkPathSender", () => {
  const path = [ALICE, INGRID, addr(0x12), BOB];
  it("accepts only our neighbours on the path", () => {
    expect(checkPathSender(path, INGRID, ALICE)).toEqual({ ok: true });
    expect(checkPathSender(path, INGRID, addr(0x12))).toEqual({ ok: true });
    expect(ruleOf(checkPathSender(path, INGRID, BOB))).toBe("sender");
    expect(ruleOf(checkPathSender(path, INGRID, addr(0x99)))).toBe("sender");
    expect(checkPathSender(path, BOB, addr(0x12))).toEqual({ ok: true });
    expect(ruleOf(checkPathSender(path, BOB, ALICE))).toBe("sender");
    expect(checkPathSender(path, ALICE, INGRID.toUpperCase().replace("0X", "0x") as Address)).toEqual({
      ok: true,
    });
  });
  it("refuses when we are not on the path at all", () => {
    expect(checkPathSender(path, addr(0x99), ALICE)).toMatchObject({
      ok: false,
      rule: "sender",
      reason: "we are not on the virtual channel's path",
    });
  });
});

// ---------------------------------------------------------------- the policy itself

describe("signingPolicy", () => {
  it("fills defaults safe on Ethereum mainnet", () => {
    const p = signingPolicy({ chainId: 1n, assetHolders: [HOLDER] });
    expect(p.challengeDuration).toEqual({ min: 3_600n, max: 604_800n });
    expect(p.fundingTimeout).toEqual({ min: 300n, max: 86_400n });
    expect(p.maxDeposit).toEqual({});
    expect(p.virtualSeconds).toBe(2_592_000n);
    expect(p.challengeMargin).toBe(600n);
    expect(p.updates).toBe("gains-only");
    expect(p.apps).toEqual([]);
    expect(POLICY_DEFAULTS.challengeDuration.min).toBe(3_600n);
  });

  it("compares holders, caps and apps in any hex case", () => {
    const upper = HOLDER.toUpperCase().replace("0X", "0x") as Address;
    const fresh = signingPolicy({ chainId: CHAIN, assetHolders: [upper], maxDeposit: { [upper]: 1n } });
    expect(fresh.assetHolders).toEqual([HOLDER]);
    expect(fresh.maxDeposit).toEqual({ [HOLDER]: 1n });
    expect(policy.assetHolders).toEqual([HOLDER, TOKEN_HOLDER]);
    expect(policy.maxDeposit).toEqual({ [HOLDER]: 10n });
    const upperApp = signingPolicy({
      chainId: CHAIN,
      assetHolders: [],
      apps: [APP.toUpperCase().replace("0X", "0x") as Address],
    });
    expect(upperApp.apps).toEqual([APP]);
  });

  it("refuses bounds that make no sense", () => {
    const base = { chainId: 1n, assetHolders: [] };
    try {
      signingPolicy({ ...base, virtualSeconds: 0n });
    } catch (e) {
      expect((e as InvalidPolicyError).details).toEqual({
        field: "virtualSeconds",
        expected: `1..${MAX_SECONDS}`,
        got: "0",
      });
    }
    for (const bad of [
      { challengeDuration: { min: 0n, max: 10n } },
      { challengeDuration: { min: 10n, max: 9n } },
      { challengeDuration: { min: 1n, max: MAX_SECONDS + 1n } },
      { fundingTimeout: { min: 0n, max: 10n } },
      { fundingTimeout: { min: 5n, max: 4n } },
      { virtualSeconds: 0n },
      { virtualSeconds: MAX_SECONDS + 1n },
      { challengeMargin: -1n },
      { challengeMargin: MAX_SECONDS + 1n },
      { maxDeposit: { [HOLDER]: -1n } },
    ]) {
      expect(() => signingPolicy({ ...base, ...bad })).toThrow(InvalidPolicyError);
    }
    for (const fine of [
      { challengeDuration: { min: 1n, max: 1n } },
      { challengeDuration: { min: 1n, max: MAX_SECONDS } },
      { fundingTimeout: { min: 7n, max: 7n } },
      { virtualSeconds: 1n },
      { virtualSeconds: MAX_SECONDS },
      { challengeMargin: 0n },
      { challengeMargin: MAX_SECONDS },
      { maxDeposit: { [HOLDER]: 0n } },
    ]) {
      expect(() => signingPolicy({ ...base, ...fine })).not.toThrow();
    }
  });

  it("a development chain's preset: seconds, every holder capped alike", () => {
    const p = devChainPolicy(31337, [HOLDER, TOKEN_HOLDER], 7n);
    expect(p.chainId).toBe(31337n);
    expect(p.challengeDuration).toEqual(DEV_CHAIN_BOUNDS.challengeDuration);
    expect(p.fundingTimeout).toEqual(DEV_CHAIN_BOUNDS.fundingTimeout);
    expect(p.challengeMargin).toBe(60n);
    expect(p.maxDeposit).toEqual({ [HOLDER]: 7n, [TOKEN_HOLDER]: 7n });
  });

  it("enforce throws a PolicyRefusedError naming the rule, and passes a yes", () => {
    expect(() => enforce({ ok: true })).not.toThrow();
    try {
      enforce({ ok: false, rule: "asset-holder", reason: "held by 0x66" });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(PolicyRefusedError);
      expect((e as PolicyRefusedError).rule).toBe("asset-holder");
      expect((e as PolicyRefusedError).code).toBe("POLICY_REFUSED");
      expect((e as Error).message).toMatch(/^Refused by our signing policy \(asset-holder\): held by 0x66\./);
      expect((e as PolicyRefusedError).details).toEqual({ rule: "asset-holder", reason: "held by 0x66" });
      expect((e as PolicyRefusedError).hint).toMatch(/docs\/security.md/);
    }
  });

  it("knows the zero address (payments) without being told", () => {
    expect(ruleOf(checkLedgerChannel(policy, ledgerRequest({ params: { app: ZERO_ADDRESS } })))).toBe(null);
  });
});
