/**
 * The channel machine's transitions one by one (machine.ts): for each event a table of rows, each
 * checking the resulting machine (phase, current, pending, dispute), the exact effects in order (persist
 * before any send or chain request), and, for invalid events, the typed error with its rule and details
 * and the machine left as it was. The end-to-end flows are in machine.test.ts, re-sync in sync.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { AppRules } from "./app.js";
import { invalid, VALID } from "./app.js";
import { testKey, twoPartyChannel } from "./arbitraries.testutil.js";
import { InvalidPhaseError, InvalidTransitionError, UnknownParticipantError } from "./errors.js";
import { channelId } from "./hash.js";
import type { Effect, Machine, Phase, Transition } from "./machine.js";
import {
  acceptUpdate,
  conclude,
  concluded,
  concludeFinal,
  createMachine,
  funded,
  progress,
  progressed,
  progressFailed,
  proposeFinal,
  proposeInit,
  proposeUpdate,
  receiveAcceptance,
  receiveRejection,
  receiveUpdate,
  register,
  registered,
  registrationStands,
  rejectUpdate,
  withdrawn,
} from "./machine.js";
import { payment } from "./payment.js";
import { signState, verifyStateSig } from "./sig.js";
import type { Signer } from "./signer.js";
import { privateKeyToSigner } from "./signer.js";
import type { Hex, Params, State } from "./types.js";

const { params, init, alice, bob } = twoPartyChannel();
const carol = privateKeyToSigner(testKey("perun-ts carol"));
const s1 = payment(init, 0, 0, 1, 10n); // version 1, Alice pays Bob 10
const s2 = payment(s1, 0, 1, 0, 3n); // version 2

/** The error `f` throws (fails the test if it throws none). */
function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return expect.unreachable("no error thrown");
}

/** `f` throws a `cls` with `fields` (rule, details, ...), and `m` is left as it was. */
function rejects(
  m: Machine,
  f: (m: Machine) => unknown,
  cls: abstract new (...a: never[]) => Error,
  fields: object,
) {
  const before = structuredClone(m);
  const e = caught(() => f(m));
  expect(e).toBeInstanceOf(cls);
  expect(e).toMatchObject(fields);
  expect(m).toEqual(before);
}

function types(t: Transition): Effect["type"][] {
  return t.effects.map((e) => e.type);
}

/** Opens a channel of `ps` (signers in participant order) at `s0`: every machine in Funding. */
function openAll(ps: Params, s0: State, signers: readonly Signer[], rules?: AppRules): Machine[] {
  const p = proposeInit(createMachine(ps, 0), s0, signers[0]!, rules);
  const sig0 = p.machine.pending!.sigs[0]!;
  const others = signers.slice(1).map((s, i) => {
    const r = receiveUpdate(createMachine(ps, i + 1), s0, sig0, 0, rules);
    return { signer: s, m: r.machine };
  });
  const sigs = [sig0, ...others.map(({ signer }) => signState(s0, signer))];
  const all = [p.machine, ...others.map((o) => acceptUpdate(o.m, o.signer).machine)];
  // Everyone receives the acceptances they miss.
  return all.map((m) => {
    let cur = m;
    for (let i = 1; i < sigs.length; i++)
      if (cur.phase === "InitSigning" && cur.pending!.sigs[i] === null)
        cur = receiveAcceptance(cur, sigs[i]!, i, 0n).machine;
    return cur;
  });
}

/** Alice and Bob in Acting at version 0. */
function opened(): [Machine, Machine] {
  const [a, b] = openAll(params, init, [alice, bob]);
  return [funded(a!).machine, funded(b!).machine];
}

/** `s` signed by Alice and Bob. */
function both(s: State): Hex[] {
  return [signState(s, alice), signState(s, bob)];
}

const [a0, b0] = opened();
/** Alice proposed s1: Signing with her own proposal. */
const aSigning = proposeUpdate(a0, s1, alice).machine;
const sigA1 = aSigning.pending!.sigs[0]!;
/** Bob received Alice's s1: Signing with the peer's proposal. */
const bSigning = receiveUpdate(b0, s1, sigA1, 0).machine;
/** Both at version 1, Acting. */
const bAt1 = acceptUpdate(bSigning, bob).machine;
const aAt1 = receiveAcceptance(aSigning, bAt1.current!.sigs[1]!, 1, 1n).machine;

describe("createMachine and participant indices", () => {
  it("starts in InitActing with nothing signed", () => {
    expect(createMachine(params, 1)).toEqual({
      params,
      channelID: channelId(params),
      idx: 1,
      phase: "InitActing",
      current: null,
      pending: null,
      dispute: null,
    });
  });

  it.each([
    ["negative", -1],
    ["one past the last", 2],
    ["far out", 7],
    ["not an integer", 0.5],
    ["NaN", Number.NaN],
  ])("rejects our index %s (%d)", (_name, idx) => {
    const e = caught(() => createMachine(params, idx));
    expect(e).toBeInstanceOf(UnknownParticipantError);
    expect(e).toMatchObject({ code: "UNKNOWN_PARTICIPANT", details: { index: idx, count: 2 } });
  });

  it.each([
    ["negative", -1],
    ["one past the last", 2],
    ["not an integer", 0.5],
  ])("rejects a peer message from index %s (%d)", (_name, from) => {
    rejects(b0, (m) => receiveUpdate(m, s1, sigA1, from), UnknownParticipantError, {
      details: { index: from, count: 2 },
    });
  });

  it("rejects a peer message that claims our own index (rule peer)", () => {
    for (const f of [
      (m: Machine) => receiveUpdate(m, s1, sigA1, 1),
      (m: Machine) => receiveRejection(m, 1, 1n, "no"),
      (m: Machine) => receiveAcceptance(m, sigA1, 1),
    ]) {
      rejects(bSigning, f, InvalidTransitionError, { rule: "peer", details: { rule: "peer" } });
    }
  });
});

describe("proposals and the initial state", () => {
  it("proposeInit signs version 0 and sends it to every peer after persisting", () => {
    const t = proposeInit(createMachine(params, 0), init, alice);
    const sig = signState(init, alice);
    expect(t.machine).toMatchObject({
      phase: "InitSigning",
      current: null,
      pending: { state: init, sigs: [sig, null], proposer: 0 },
    });
    expect(t.effects).toEqual([
      { type: "persist", machine: t.machine },
      {
        type: "send",
        to: 1,
        msg: { type: "propose", channelID: channelId(params), from: 0, state: init, sig },
      },
    ]);
  });

  const noInit: AppRules = {
    validTransition: () => VALID,
    validInit: () => invalid("no zero counter"),
  };
  const rows: [string, State, AppRules | undefined, string, object][] = [
    ["version 1", { ...init, version: 1n }, undefined, "version", {}],
    ["final", { ...init, isFinal: true }, undefined, "final", {}],
    ["refused by the app", init, noInit, "app", { reason: "no zero counter" }],
    ["app data in a payment channel", { ...init, appData: "0x01" }, undefined, "app", {}],
  ];
  it.each(
    rows,
  )("an initial state that is %s is neither proposed nor accepted", (_n, s, rules, rule, details) => {
    const fields = { rule, details: { rule, ...details } };
    rejects(createMachine(params, 0), (m) => proposeInit(m, s, alice, rules), InvalidTransitionError, fields);
    rejects(
      createMachine(params, 1),
      (m) => receiveUpdate(m, s, signState(s, alice), 0, rules),
      InvalidTransitionError,
      fields,
    );
  });

  it("an app's validInit that accepts lets the initial state through", () => {
    const ok: AppRules = { validTransition: () => VALID, validInit: () => VALID };
    expect(proposeInit(createMachine(params, 0), init, alice, ok).machine.phase).toBe("InitSigning");
  });

  it("receiveUpdate holds the peer's signed proposal and persists, nothing else", () => {
    const t = receiveUpdate(b0, s1, sigA1, 0);
    expect(t.machine).toEqual({
      ...b0,
      phase: "Signing",
      pending: { state: s1, sigs: [sigA1, null], proposer: 0 },
    });
    expect(t.effects).toEqual([{ type: "persist", machine: t.machine }]);
    const i = receiveUpdate(createMachine(params, 1), init, signState(init, alice), 0);
    expect(i.machine.phase).toBe("InitSigning");
    expect(i.effects).toEqual([{ type: "persist", machine: i.machine }]);
  });

  it("proposeFinal proposes the current outcome at version + 1, final", () => {
    const t = proposeFinal(aAt1, alice);
    expect(t.machine.pending?.state).toEqual({ ...s1, version: 2n, isFinal: true });
    expect(() => proposeFinal(aSigning, alice)).toThrow(InvalidPhaseError);
  });

  it("no update after a final state (rule final)", () => {
    const fin: State = { ...s1, isFinal: true };
    const [fa] = openAll(params, init, [alice, bob]).map((m) => funded(m).machine);
    const atFinal: Machine = {
      ...fa!,
      phase: "Acting",
      current: { state: fin, sigs: both(fin) },
    };
    rejects(atFinal, (m) => proposeUpdate(m, { ...s2, isFinal: false }, alice), InvalidTransitionError, {
      rule: "final",
      details: { rule: "final", version: "1n" },
    });
  });

  it("a machine without a current state cannot propose (defensive; only an inconsistent record gets here)", () => {
    rejects({ ...a0, current: null }, (m) => proposeUpdate(m, s1, alice), InvalidPhaseError, {
      code: "INVALID_PHASE",
      details: { event: "use the current state", phase: "Acting", allowed: "a phase after init" },
    });
  });
});

describe("receiveUpdate while a proposal is pending", () => {
  const bobS1 = payment(init, 0, 1, 0, 5n); // Bob's own version 1
  const bProposed = proposeUpdate(b0, bobS1, bob).machine;
  const sigB1 = bProposed.pending!.sigs[1]!;

  it("concurrent initial proposals: Alice (lower index) ignores Bob's, Bob drops his and takes hers", () => {
    const initB: State = { ...init, outcome: { ...init.outcome, balances: [[90n, 60n]] } };
    const pa = proposeInit(createMachine(params, 0), init, alice).machine;
    const pb = proposeInit(createMachine(params, 1), initB, bob).machine;
    expect(receiveUpdate(pa, initB, pb.pending!.sigs[1]!, 1)).toEqual({ machine: pa, effects: [] });
    const t = receiveUpdate(pb, init, pa.pending!.sigs[0]!, 0);
    expect(t.machine).toEqual({
      ...pb,
      phase: "InitSigning",
      pending: { state: init, sigs: [pa.pending!.sigs[0]!, null], proposer: 0 },
    });
    expect(t.effects).toEqual([
      { type: "dropped", state: initB, reason: "concurrent proposal of participant 0 wins" },
      { type: "persist", machine: t.machine },
    ]);
  });

  it("concurrent updates: the loser goes back to its current state, then signs the winner's", () => {
    const t = receiveUpdate(bProposed, s1, sigA1, 0);
    expect(t.machine).toEqual({
      ...b0,
      phase: "Signing",
      pending: { state: s1, sigs: [sigA1, null], proposer: 0 },
    });
    expect(types(t)).toEqual(["dropped", "persist"]);
    expect(receiveUpdate(aSigning, bobS1, sigB1, 1)).toEqual({ machine: aSigning, effects: [] });
  });

  const rows: [string, Machine, (m: Machine) => unknown, abstract new (...a: never[]) => Error, object][] = [
    [
      "Alice, holding Bob's proposal, gets it again",
      receiveUpdate(a0, bobS1, sigB1, 1).machine,
      (m) => receiveUpdate(m, bobS1, sigB1, 1),
      InvalidPhaseError,
      { details: { event: "receiveUpdate", phase: "Signing", allowed: "InitActing|Acting" } },
    ],
    [
      "Bob, holding Alice's proposal, gets it again",
      bSigning,
      (m) => receiveUpdate(m, s1, sigA1, 0),
      InvalidPhaseError,
      { details: { phase: "Signing" } },
    ],
    [
      "Alice, with her own version 1 pending, gets Bob's version 2",
      aSigning,
      (m) => receiveUpdate(m, { ...bobS1, version: 2n }, signState({ ...bobS1, version: 2n }, bob), 1),
      InvalidPhaseError,
      { details: { phase: "Signing" } },
    ],
    [
      "Bob, with his own version 1 pending, gets Alice's version 2",
      bProposed,
      (m) => receiveUpdate(m, { ...s1, version: 2n }, signState({ ...s1, version: 2n }, alice), 0),
      InvalidPhaseError,
      { details: { phase: "Signing" } },
    ],
    [
      "Alice, with her own proposal pending, gets no state at all (not a concurrent proposal)",
      aSigning,
      (m) => receiveUpdate(m, null as unknown as State, sigB1, 1),
      InvalidPhaseError,
      { details: { phase: "Signing" } },
    ],
    [
      "Bob, with his own proposal pending, gets no state at all (not a concurrent proposal)",
      bProposed,
      (m) => receiveUpdate(m, undefined as unknown as State, sigA1, 0),
      InvalidPhaseError,
      { details: { phase: "Signing" } },
    ],
  ];
  it.each(rows)("%s: rejected, machine unchanged", (_n, m, f, cls, fields) => {
    rejects(m, f, cls, fields);
  });
});

describe("acceptance and rejection", () => {
  it("acceptUpdate completes a two-party state: persist, publish, then the acceptance", () => {
    const t = acceptUpdate(bSigning, bob);
    const sig = signState(s1, bob);
    const signed = { state: s1, sigs: [sigA1, sig] };
    expect(t.machine).toEqual({ ...bSigning, phase: "Acting", current: signed, pending: null });
    expect(t.effects).toEqual([
      { type: "persist", machine: t.machine },
      { type: "publish", signed },
      {
        type: "send",
        to: 0,
        msg: { type: "accept", channelID: channelId(params), from: 1, version: 1n, sig },
      },
    ]);
  });

  it("receiveAcceptance completes our proposal: persist, publish, nothing sent", () => {
    const sig = signState(s1, bob);
    for (const version of [1n, undefined]) {
      const t = receiveAcceptance(aSigning, sig, 1, version);
      const signed = { state: s1, sigs: [sigA1, sig] };
      expect(t.machine).toEqual({ ...aSigning, phase: "Acting", current: signed, pending: null });
      expect(t.effects).toEqual([
        { type: "persist", machine: t.machine },
        { type: "publish", signed },
      ]);
    }
  });

  it("a final state, once signed by all, leads to Final", () => {
    const fin: State = { ...s1, version: 1n, isFinal: true };
    const p = proposeUpdate(a0, fin, alice).machine;
    const t = receiveAcceptance(p, signState(fin, bob), 1, 1n);
    expect(t.machine.phase).toBe("Final");
    expect(t.machine.current?.state).toEqual(fin);
  });

  it("an acceptance for another version is refused (rule version)", () => {
    rejects(aSigning, (m) => receiveAcceptance(m, signState(s1, bob), 1, 2n), InvalidTransitionError, {
      rule: "version",
      details: { rule: "version" },
    });
  });

  it("an acceptance from the proposer itself is refused (rule duplicate-signature)", () => {
    rejects(bSigning, (m) => receiveAcceptance(m, sigA1, 0, 1n), InvalidTransitionError, {
      rule: "duplicate-signature",
      details: { rule: "duplicate-signature" },
    });
  });

  it("rejectUpdate of an initial proposal: InitActing, persist, then the rejection", () => {
    const b = receiveUpdate(createMachine(params, 1), init, signState(init, alice), 0).machine;
    const t = rejectUpdate(b, "wrong balances");
    expect(t.machine).toEqual({ ...b, phase: "InitActing", pending: null });
    expect(t.effects).toEqual([
      { type: "persist", machine: t.machine },
      {
        type: "send",
        to: 0,
        msg: { type: "reject", channelID: channelId(params), from: 1, version: 0n, reason: "wrong balances" },
      },
    ]);
  });

  it("rejectUpdate of an update: Acting", () => {
    const t = rejectUpdate(bSigning, "no");
    expect(t.machine).toEqual({ ...bSigning, phase: "Acting", pending: null });
    expect(types(t)).toEqual(["persist", "send"]);
  });

  it.each<[string, Machine, Phase, State]>([
    ["initial", proposeInit(createMachine(params, 0), init, alice).machine, "InitActing", init],
    ["update", aSigning, "Acting", s1],
  ])("receiveRejection of our %s proposal: persist, then dropped", (_n, m, phase, state) => {
    const t = receiveRejection(m, 1, state.version, "too much");
    expect(t.machine).toEqual({ ...m, phase, pending: null });
    expect(t.effects).toEqual([
      { type: "persist", machine: t.machine },
      { type: "dropped", state, reason: "rejected by participant 1: too much" },
    ]);
  });

  it("a rejection of the peer's own proposal is refused (rule reject-unknown)", () => {
    rejects(bSigning, (m) => receiveRejection(m, 0, 1n, "no"), InvalidTransitionError, {
      rule: "reject-unknown",
      details: { rule: "reject-unknown" },
    });
  });

  it("rejectUpdate and receiveRejection need a pending proposal", () => {
    rejects(a0, (m) => rejectUpdate(m, "no"), InvalidPhaseError, { details: { event: "rejectUpdate" } });
    rejects(a0, (m) => receiveRejection(m, 1, 1n, "no"), InvalidPhaseError, {
      details: { event: "receiveRejection", allowed: "InitSigning|Signing" },
    });
    rejects(a0, (m) => acceptUpdate(m, alice), InvalidPhaseError, { details: { event: "acceptUpdate" } });
  });
});

describe("three participants: a state is current only once all have signed", () => {
  const ps: Params = {
    ...params,
    nonce: 3n,
    participants: [...params.participants, { ethAddress: carol.address, ccAddress: "0x" }],
  };
  const s0: State = {
    ...init,
    channelID: channelId(ps),
    outcome: { ...init.outcome, balances: [[100n, 50n, 25n]] },
  };
  const sig = (s: Signer) => signState(s0, s);
  const p = proposeInit(createMachine(ps, 0), s0, alice);
  const bRecv = receiveUpdate(createMachine(ps, 1), s0, sig(alice), 0).machine;

  it("the proposal goes to both peers", () => {
    expect(p.effects.map((e) => (e.type === "send" ? e.to : e.type))).toEqual(["persist", 1, 2]);
  });

  it("Bob's acceptance leaves the state pending and goes to Alice and Carol", () => {
    const t = acceptUpdate(bRecv, bob);
    expect(t.machine).toEqual({
      ...bRecv,
      pending: { state: s0, sigs: [sig(alice), sig(bob), null], proposer: 0 },
    });
    expect(t.effects.map((e) => (e.type === "send" ? e.to : e.type))).toEqual(["persist", 0, 2]);
    // Signing twice is refused.
    rejects(t.machine, (m) => acceptUpdate(m, bob), InvalidTransitionError, {
      rule: "accept-own",
      details: { rule: "accept-own" },
    });
    // Carol's acceptance completes it for Bob.
    const done = receiveAcceptance(t.machine, sig(carol), 2, 0n);
    expect(done.machine.phase).toBe("Funding");
    expect(done.machine.current).toEqual({ state: s0, sigs: [sig(alice), sig(bob), sig(carol)] });
    expect(types(done)).toEqual(["persist", "publish"]);
  });

  it("the proposer collects acceptances one by one; a second one from the same peer is refused", () => {
    const one = receiveAcceptance(p.machine, sig(bob), 1, 0n);
    expect(one.machine).toEqual({
      ...p.machine,
      pending: { state: s0, sigs: [sig(alice), sig(bob), null], proposer: 0 },
    });
    expect(one.effects).toEqual([{ type: "persist", machine: one.machine }]);
    rejects(one.machine, (m) => receiveAcceptance(m, sig(bob), 1, 0n), InvalidTransitionError, {
      rule: "duplicate-signature",
    });
    const all = receiveAcceptance(one.machine, sig(carol), 2);
    expect(all.machine.phase).toBe("Funding");
    expect(types(all)).toEqual(["persist", "publish"]);
  });

  it("a rejection goes to both peers", () => {
    const t = rejectUpdate(bRecv, "no");
    expect(t.effects.map((e) => (e.type === "send" ? e.to : e.type))).toEqual(["persist", 0, 2]);
  });
});

describe("funding", () => {
  it("funded: Funding -> Acting, persisted", () => {
    const [a] = openAll(params, init, [alice, bob]);
    const t = funded(a!);
    expect(t.machine).toEqual({ ...a, phase: "Acting" });
    expect(t.effects).toEqual([{ type: "persist", machine: t.machine }]);
  });
});

describe("register and registered", () => {
  it.each<[string, Machine, Effect["type"][]]>([
    ["Acting", a0, ["persist", "register"]],
    ["Funding", openAll(params, init, [alice, bob])[0]!, ["persist", "register"]],
    ["Signing with our own proposal (dropped)", aSigning, ["persist", "dropped", "register"]],
    ["Signing with the peer's proposal", bSigning, ["persist", "register"]],
  ])("register in %s", (_n, m, effects) => {
    const t = register(m);
    expect(t.machine).toEqual({ ...m, phase: "Registering", pending: null });
    expect(types(t)).toEqual(effects);
    expect(t.effects[0]).toEqual({ type: "persist", machine: t.machine });
    expect(t.effects.at(-1)).toEqual({ type: "register", signed: m.current });
    if (effects.includes("dropped")) {
      expect(t.effects[1]).toEqual({ type: "dropped", state: s1, reason: "channel disputed" });
    }
  });

  // registered() abandons our own proposal like register() does: whoever waits on it is told.
  it("registered while signing our own proposal reports it dropped", () => {
    const t = registered(aSigning, 0n, 1000n);
    expect(t.effects[1]).toEqual({ type: "dropped", state: s1, reason: "channel disputed" });
    expect(types(registered(bSigning, 0n, 1000n))).not.toContain("dropped");
  });

  it("register needs a phase with a fully signed state", () => {
    rejects(createMachine(params, 0), register, InvalidPhaseError, {
      details: { event: "register", phase: "InitActing", allowed: "Funding|Acting|Signing|Final" },
    });
  });

  it.each<[string, Machine, bigint, Phase, Effect["type"][]]>([
    ["our version registered", aAt1, 1n, "Registered", ["persist"]],
    ["a newer version registered", aAt1, 2n, "Registered", ["persist"]],
    ["an older version registered: we refute", aAt1, 0n, "Registering", ["persist", "register"]],
    ["registered while signing the peer's proposal", bSigning, 0n, "Registered", ["persist"]],
    ["registered after we registered", register(aAt1).machine, 1n, "Registered", ["persist"]],
  ])("registered: %s", (_n, m, version, phase, effects) => {
    const t = registered(m, version, 1000n);
    expect(t.machine).toEqual({
      ...m,
      phase,
      pending: null,
      dispute: { version, timeout: 1000n, state: null },
    });
    expect(types(t)).toEqual(effects);
    expect(t.effects[0]).toEqual({ type: "persist", machine: t.machine });
    if (phase === "Registering") expect(t.effects[1]).toEqual({ type: "register", signed: m.current });
  });
});

describe("progress (app channels on chain)", () => {
  const appParams: Params = { ...params, app: `0x${"ab".repeat(20)}`, nonce: 4n };
  const counter: AppRules = {
    validTransition: (_p, from, to) =>
      BigInt(to.appData) === BigInt(from.appData) + 1n ? VALID : invalid("counter must grow by one"),
  };
  const word = (n: number): Hex => `0x${n.toString(16).padStart(64, "0")}`;
  const c0: State = { ...init, channelID: channelId(appParams), appData: word(0) };
  const c1: State = { ...c0, version: 1n, appData: word(1) };
  const c2: State = { ...c0, version: 2n, appData: word(2) };
  const opened = openAll(appParams, c0, [alice, bob], counter).map((m) => funded(m).machine);
  const app0 = opened[0]!;
  const reg = registered(register(app0).machine, 0n, 1000n).machine;

  it("from Registered once the timeout is reached: Progressing, persist, then our signed progress", () => {
    const t = progress(reg, c1, alice, 1000n, counter);
    expect(t.machine).toEqual({ ...reg, phase: "Progressing" });
    expect(t.effects).toHaveLength(2);
    expect(t.effects[0]).toEqual({ type: "persist", machine: t.machine });
    const pr = t.effects[1];
    expect(pr).toMatchObject({ type: "progress", state: c1, actor: 0 });
    expect(verifyStateSig(c1, (pr as { sig: Hex }).sig, alice.address)).toBe(true);
    // Bob may progress too, as actor 1.
    const bReg = registered(opened[1]!, 0n, 1000n).machine;
    expect(progress(bReg, c1, bob, 2000n, counter).effects[1]).toMatchObject({ actor: 1 });
  });

  it("before the timeout: refused (rule timeout) with now and timeout", () => {
    rejects(reg, (m) => progress(m, c1, alice, 999n, counter), InvalidTransitionError, {
      rule: "timeout",
      details: { rule: "timeout", now: "999n", timeout: "1000n" },
    });
  });

  it("from a version other than the chain's: refused (rule version)", () => {
    const [x, y] = opened as [Machine, Machine];
    const p = proposeUpdate(x, c1, alice, counter).machine;
    const y1 = acceptUpdate(receiveUpdate(y, c1, p.pending!.sigs[0]!, 0, counter).machine, bob).machine;
    const x1 = receiveAcceptance(p, y1.current!.sigs[1]!, 1).machine;
    // Bob registered version 0 and we failed to refute: the chain holds 0, we hold 1.
    const stood = registrationStands(registered(x1, 0n, 500n).machine, 0n, 500n).machine;
    rejects(stood, (m) => progress(m, c2, alice, 500n, counter), InvalidTransitionError, {
      rule: "version",
      details: { rule: "version" },
    });
  });

  it("from Progressed, it continues from the chain's state, not our current one", () => {
    const p = progressed(reg, c1, 2000n).machine;
    const t = progress(p, c2, alice, 1999n, counter);
    expect(t.machine.phase).toBe("Progressing");
    expect(t.effects[1]).toMatchObject({ type: "progress", state: c2 });
    expect(() => progress(p, c1, alice, 1999n, counter)).toThrow(InvalidTransitionError);
  });

  it("the app's rule applies (rule app)", () => {
    rejects(
      reg,
      (m) => progress(m, c2, alice, 1000n, { validTransition: () => VALID }),
      InvalidTransitionError,
      {
        rule: "version",
      },
    );
    rejects(
      reg,
      (m) => progress(m, { ...c1, appData: word(5) }, alice, 1000n, counter),
      InvalidTransitionError,
      {
        rule: "app",
        details: { reason: "counter must grow by one" },
      },
    );
  });

  it("only in Registered or Progressed", () => {
    for (const m of [app0, register(app0).machine, progress(reg, c1, alice, 1000n, counter).machine]) {
      rejects(m, (x) => progress(x, c1, alice, 5000n, counter), InvalidPhaseError, {
        details: { event: "progress", allowed: "Registered|Progressed" },
      });
    }
  });

  it.each<[string, Machine]>([
    ["Registered", reg],
    ["Progressing", progress(reg, c1, alice, 1000n, counter).machine],
    ["Progressed", progressed(reg, c1, 2000n).machine],
  ])("progressed from %s: Progressed with the chain's state and new timeout", (_n, m) => {
    const t = progressed(m, c2, 3000n);
    expect(t.machine).toEqual({
      ...m,
      phase: "Progressed",
      dispute: { version: 2n, timeout: 3000n, state: c2 },
    });
    expect(t.effects).toEqual([{ type: "persist", machine: t.machine }]);
  });

  it("progressFailed: back to the phase we progressed from, the dispute unchanged", () => {
    const fromReg = progressFailed(progress(reg, c1, alice, 1000n, counter).machine);
    expect(fromReg.machine).toEqual(reg);
    expect(fromReg.effects).toEqual([{ type: "persist", machine: reg }]);
    const p = progressed(reg, c1, 2000n).machine;
    expect(progressFailed(progress(p, c2, alice, 1999n, counter).machine).machine).toEqual(p);
    for (const m of [app0, reg, p]) {
      rejects(m, (x) => progressFailed(x), InvalidPhaseError, {
        details: { event: "progressFailed", allowed: "Progressing" },
      });
    }
  });

  it("progressed is refused outside the dispute", () => {
    rejects(app0, (m) => progressed(m, c1, 2000n), InvalidPhaseError, {
      details: { event: "progressed", phase: "Acting", allowed: "Registered|Progressing|Progressed" },
    });
  });

  // As contracts/Adjudicator.sol: in FORCEEXEC, progress only while block.timestamp < timeout.
  it("from Progressed, progress is allowed before the progression's timeout and refused at it", () => {
    const p = progressed(reg, c1, 2000n).machine;
    expect(progress(p, c2, alice, 1999n, counter).machine.phase).toBe("Progressing");
    expect(() => progress(p, c2, alice, 2000n, counter)).toThrow(
      /Cannot progress after the force-execution phase ended at 2000/,
    );
    expect(() => progress(reg, c1, alice, 999n, counter)).toThrow(
      /Cannot progress before the registration times out at 1000/,
    );
  });

  // As _markConcluded: one challenge duration more for an app channel still in DISPUTE (room to progress).
  it("an app channel still in Registered concludes one challenge duration after the timeout", () => {
    expect(() => conclude(reg, 1000n)).toThrow(InvalidTransitionError);
    expect(conclude(reg, 1000n + appParams.challengeDuration).effects).toEqual([{ type: "conclude" }]);
  });

  it("conclude after a progression waits for its new timeout", () => {
    const p = progressed(reg, c1, 2000n).machine;
    rejects(p, (m) => conclude(m, 1999n), InvalidTransitionError, { rule: "timeout" });
    expect(conclude(p, 2000n)).toEqual({ machine: p, effects: [{ type: "conclude" }] });
  });
});

describe("conclusion and withdrawal", () => {
  const reg = registered(register(aAt1).machine, 1n, 1000n).machine;

  it.each([
    [999n, false],
    [1000n, true],
    [1001n, true],
  ])("conclude at %s: allowed %s", (now, ok) => {
    if (ok) expect(conclude(reg, now)).toEqual({ machine: reg, effects: [{ type: "conclude" }] });
    else
      rejects(reg, (m) => conclude(m, now), InvalidTransitionError, {
        rule: "timeout",
        details: { rule: "timeout", now: `${now}n`, timeout: "1000n" },
      });
  });

  it("conclude only in Registered or Progressed", () => {
    for (const m of [aAt1, register(aAt1).machine]) {
      rejects(m, (x) => conclude(x, 5000n), InvalidPhaseError, { details: { event: "conclude" } });
    }
  });

  it("concludeFinal hands the final state to the chain, machine unchanged", () => {
    const fin: State = { ...s1, isFinal: true };
    const f = receiveAcceptance(proposeUpdate(a0, fin, alice).machine, signState(fin, bob), 1).machine;
    expect(concludeFinal(f)).toEqual({ machine: f, effects: [{ type: "concludeFinal", signed: f.current }] });
    rejects(aAt1, concludeFinal, InvalidPhaseError, {
      details: { event: "concludeFinal", allowed: "Final" },
    });
  });

  it.each<[string, Machine, bigint, object]>([
    ["Final (no dispute yet)", { ...aAt1, phase: "Final" }, 1n, { version: 1n, timeout: 0n, state: null }],
    ["Registered", reg, 1n, { version: 1n, timeout: 1000n, state: null }],
    ["Registering", register(aAt1).machine, 1n, { version: 1n, timeout: 0n, state: null }],
    [
      "Progressed (keeps the chain's state and timeout)",
      { ...reg, phase: "Progressed", dispute: { version: 2n, timeout: 3000n, state: s2 } },
      2n,
      { version: 2n, timeout: 3000n, state: s2 },
    ],
    [
      "Progressing (the version concluded wins)",
      { ...reg, phase: "Progressing" },
      3n,
      { version: 3n, timeout: 1000n, state: null },
    ],
  ])("concluded from %s: Withdrawing, persist, then withdraw", (_n, m, version, dispute) => {
    const t = concluded(m, version);
    expect(t.machine).toEqual({ ...m, phase: "Withdrawing", dispute });
    expect(t.effects).toEqual([{ type: "persist", machine: t.machine }, { type: "withdraw" }]);
  });

  it("concluded is refused while the channel is open", () => {
    rejects(aAt1, (m) => concluded(m, 1n), InvalidPhaseError, {
      details: { event: "concluded", phase: "Acting" },
    });
  });

  it("withdrawn: Withdrawing -> Withdrawn, persisted", () => {
    const w = concluded(reg, 1n).machine;
    const t = withdrawn(w);
    expect(t.machine).toEqual({ ...w, phase: "Withdrawn" });
    expect(t.effects).toEqual([{ type: "persist", machine: t.machine }]);
  });
});
