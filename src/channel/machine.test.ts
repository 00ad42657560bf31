import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { assetTotals } from "./allocation.js";
import type { AppRules } from "./app.js";
import { invalid, VALID } from "./app.js";
import { testKey, twoPartyChannel } from "./arbitraries.testutil.js";
import {
  AssetsChangedError,
  FundsNotConservedError,
  InvalidFieldError,
  InvalidPhaseError,
  InvalidSignatureError,
  InvalidTransitionError,
  MissingAppRulesError,
  SignerMismatchError,
  UnknownParticipantError,
} from "./errors.js";
import { channelId } from "./hash.js";
import type { ChannelMsg, Effect, Machine, Transition } from "./machine.js";
import {
  acceptUpdate,
  conclude,
  concluded,
  concludeFinal,
  createMachine,
  funded,
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
import { privateKeyToSigner } from "./signer.js";
import type { Hex, Params, State } from "./types.js";

const { params, init, alice, bob } = twoPartyChannel();
const mallory = privateKeyToSigner(testKey("perun-ts mallory"));

function sends(effects: readonly Effect[]): ChannelMsg[] {
  return effects.flatMap((e) => (e.type === "send" ? [e.msg] : []));
}

function only<T>(xs: readonly T[]): T {
  expect(xs).toHaveLength(1);
  return xs[0] as T;
}

/** Delivers a message to a machine, and (for proposals) lets it accept. */
function deliver(m: Machine, msg: ChannelMsg, signer = m.idx === 0 ? alice : bob): Transition {
  switch (msg.type) {
    case "propose": {
      const t = receiveUpdate(m, msg.state, msg.sig, msg.from);
      return t.machine.pending === null ? t : acceptUpdate(t.machine, signer);
    }
    case "accept":
      return receiveAcceptance(m, msg.sig, msg.from, msg.version);
    case "reject":
      return receiveRejection(m, msg.from, msg.version, msg.reason);
  }
}

/** Both machines in Acting with the initial state fully signed and funded. */
function open(): [Machine, Machine] {
  const p = proposeInit(createMachine(params, 0), init, alice);
  expect(p.machine.phase).toBe("InitSigning");
  expect(p.effects.map((e) => e.type)).toEqual(["persist", "send"]);
  const b = deliver(createMachine(params, 1), only(sends(p.effects)));
  expect(b.machine.phase).toBe("Funding");
  expect(b.effects.map((e) => e.type)).toEqual(["persist", "publish", "send"]);
  const a = deliver(p.machine, only(sends(b.effects)));
  expect(a.machine.phase).toBe("Funding");
  return [funded(a.machine).machine, funded(b.machine).machine];
}

/** One update proposed by `proposer`, accepted by the other. */
function update(ms: [Machine, Machine], proposer: 0 | 1, next: State): [Machine, Machine] {
  const signers = [alice, bob];
  const p = proposeUpdate(ms[proposer], next, signers[proposer]!);
  const r = deliver(ms[1 - proposer]!, only(sends(p.effects)));
  const back = deliver(p.machine, only(sends(r.effects)));
  return proposer === 0 ? [back.machine, r.machine] : [r.machine, back.machine];
}

describe("opening and updating", () => {
  it("opens, pays both ways and ends with equal fully signed states", () => {
    let ms = open();
    expect(ms[0].current?.state).toEqual(init);
    ms = update(ms, 0, payment(init, 0, 0, 1, 30n));
    ms = update(ms, 1, payment(ms[1].current!.state, 0, 1, 0, 5n));
    for (const m of ms) {
      expect(m.phase).toBe("Acting");
      expect(m.current?.state.version).toBe(2n);
      expect(m.current?.state.outcome.balances).toEqual([[75n, 75n]]);
      expect(verifyStateSig(m.current!.state, m.current!.sigs[0]!, alice.address)).toBe(true);
      expect(verifyStateSig(m.current!.state, m.current!.sigs[1]!, bob.address)).toBe(true);
    }
  });

  it("persists before its signature leaves (effects order)", () => {
    const [a] = open();
    const t = proposeUpdate(a, payment(a.current!.state, 0, 0, 1, 1n), alice);
    expect(t.effects[0]?.type).toBe("persist");
    expect(t.effects.findIndex((e) => e.type === "send")).toBeGreaterThan(0);
  });

  it("rejection returns both sides to Acting and reports our proposal dropped", () => {
    const [a, b] = open();
    const p = proposeUpdate(a, payment(init, 0, 0, 1, 1n), alice);
    const rb = receiveUpdate(b, p.machine.pending!.state, p.machine.pending!.sigs[0]!, 0);
    const rej = rejectUpdate(rb.machine, "not now");
    expect(rej.machine.phase).toBe("Acting");
    const back = deliver(p.machine, only(sends(rej.effects)));
    expect(back.machine.phase).toBe("Acting");
    expect(back.machine.current?.state.version).toBe(0n);
    expect(back.effects.some((e) => e.type === "dropped")).toBe(true);
  });

  it("final update leads to Final, concludeFinal, Withdrawing, Withdrawn", () => {
    let ms = open();
    const p = proposeFinal(ms[0], alice);
    expect(p.machine.pending?.state.isFinal).toBe(true);
    const r = deliver(ms[1], only(sends(p.effects)));
    ms = [deliver(p.machine, only(sends(r.effects))).machine, r.machine];
    expect(ms.map((m) => m.phase)).toEqual(["Final", "Final"]);
    expect(() => proposeUpdate(ms[0], payment(ms[0].current!.state, 0, 0, 1, 1n), alice)).toThrow(
      InvalidPhaseError,
    );
    expect(concludeFinal(ms[0]).effects[0]?.type).toBe("concludeFinal");
    const c = concluded(ms[0], 1n);
    expect(c.machine.phase).toBe("Withdrawing");
    expect(c.effects.map((e) => e.type)).toEqual(["persist", "withdraw"]);
    expect(withdrawn(c.machine).machine.phase).toBe("Withdrawn");
  });

  it("an app channel runs its injected rules", () => {
    const appParams: Params = { ...params, app: `0x${"ab".repeat(20)}`, nonce: 2n };
    const counter: AppRules = {
      validTransition: (_p, from, to) =>
        BigInt(to.appData) === BigInt(from.appData) + 1n ? VALID : invalid("counter must grow by one"),
    };
    const s0: State = { ...init, channelID: channelId(appParams), appData: `0x${"00".repeat(32)}` };
    expect(() => proposeInit(createMachine(appParams, 0), s0, alice)).toThrow(MissingAppRulesError);
    const p = proposeInit(createMachine(appParams, 0), s0, alice, counter);
    const b = receiveUpdate(createMachine(appParams, 1), s0, p.machine.pending!.sigs[0]!, 0, counter);
    const ab = acceptUpdate(b.machine, bob);
    let a = funded(receiveAcceptance(p.machine, ab.machine.current!.sigs[1]!, 1).machine).machine;
    const good: State = { ...s0, version: 1n, appData: `0x${"00".repeat(31)}01` };
    const bad: State = { ...s0, version: 1n, appData: `0x${"00".repeat(31)}02` };
    expect(() => proposeUpdate(a, bad, alice, counter)).toThrow(/counter must grow by one/);
    a = proposeUpdate(a, good, alice, counter).machine;
    expect(a.phase).toBe("Signing");
  });
});

describe("concurrent proposals", () => {
  it("the lower participant index wins; the other drops its own and signs the winner's", () => {
    const [a0, b0] = open();
    const pa = proposeUpdate(a0, payment(init, 0, 0, 1, 10n), alice); // Alice: index 0
    const pb = proposeUpdate(b0, payment(init, 0, 1, 0, 5n), bob); // Bob: index 1, same version 1
    // Alice receives Bob's proposal: hers wins, she ignores it.
    const aIgnores = receiveUpdate(pa.machine, pb.machine.pending!.state, pb.machine.pending!.sigs[1]!, 1);
    expect(aIgnores.machine).toBe(pa.machine);
    expect(aIgnores.effects).toEqual([]);
    // Bob receives Alice's: he drops his and handles hers.
    const bTakes = receiveUpdate(pb.machine, pa.machine.pending!.state, pa.machine.pending!.sigs[0]!, 0);
    expect(bTakes.effects[0]).toMatchObject({ type: "dropped", state: pb.machine.pending!.state });
    expect(bTakes.machine.pending?.proposer).toBe(0);
    const bAcc = acceptUpdate(bTakes.machine, bob);
    const aDone = deliver(aIgnores.machine, only(sends(bAcc.effects)));
    expect(aDone.machine.current).toEqual(bAcc.machine.current);
    expect(aDone.machine.current?.state.outcome.balances).toEqual([[90n, 60n]]);
  });

  it("a losing proposal that is itself invalid leaves the loser's machine unchanged", () => {
    const [a0, b0] = open();
    const pb = proposeUpdate(b0, payment(init, 0, 1, 0, 5n), bob);
    const forged = payment(init, 0, 0, 1, 10n);
    const before = structuredClone(pb.machine);
    expect(() => receiveUpdate(pb.machine, forged, signState(forged, mallory), 0)).toThrow(
      SignerMismatchError,
    );
    expect(pb.machine).toEqual(before);
    expect(pb.machine.pending?.proposer).toBe(1);
    expect(a0.phase).toBe("Acting");
  });
});

describe("dispute", () => {
  it("register -> Registered -> conclude after timeout -> Withdrawing", () => {
    const [a] = update(open(), 0, payment(init, 0, 0, 1, 1n));
    const r = register(a);
    expect(r.machine.phase).toBe("Registering");
    expect(r.effects.map((e) => e.type)).toEqual(["persist", "register"]);
    const reg = registered(r.machine, 1n, 1000n);
    expect(reg.machine.phase).toBe("Registered");
    expect(() => conclude(reg.machine, 999n)).toThrow(InvalidTransitionError);
    expect(conclude(reg.machine, 1000n).effects).toEqual([{ type: "conclude" }]);
    expect(concluded(reg.machine, 1n).machine.phase).toBe("Withdrawing");
  });

  it("a registration we could not refute in time stands: Registering -> Registered with the chain's version", () => {
    const [a] = open();
    const reg = register(a).machine;
    const t = registrationStands(reg, 0n, 500n);
    expect(t.machine.phase).toBe("Registered");
    expect(t.machine.dispute).toEqual({ version: 0n, timeout: 500n, state: null });
    expect(t.machine.pending).toBeNull();
    expect(t.effects).toEqual([{ type: "persist", machine: t.machine }]);
    expect(() => registrationStands(a, 0n, 500n)).toThrow(InvalidPhaseError);
  });

  it("refutes a stale registration with the newer state", () => {
    const ms = update(open(), 0, payment(init, 0, 0, 1, 1n));
    const t = registered(ms[1], 0n, 1000n); // someone registered version 0
    expect(t.machine.phase).toBe("Registering");
    expect(t.effects[1]).toEqual({ type: "register", signed: ms[1].current });
  });
});

describe("invalid events leave the machine unchanged", () => {
  const ms = open();
  const [a, b] = ms;
  const s1 = payment(init, 0, 0, 1, 10n);
  const pa = proposeUpdate(a, s1, alice);
  const sigA = pa.machine.pending!.sigs[0]!;
  const rows: [string, Machine, (m: Machine) => unknown, new (...args: never[]) => Error][] = [
    [
      "proposeUpdate before init",
      createMachine(params, 0),
      (m) => proposeUpdate(m, s1, alice),
      InvalidPhaseError,
    ],
    ["proposeInit twice", a, (m) => proposeInit(m, init, alice), InvalidPhaseError],
    ["version + 2", a, (m) => proposeUpdate(m, { ...s1, version: 2n }, alice), InvalidTransitionError],
    ["same version", a, (m) => proposeUpdate(m, { ...s1, version: 0n }, alice), InvalidTransitionError],
    [
      "other channel",
      a,
      (m) => proposeUpdate(m, { ...s1, channelID: `0x${"00".repeat(32)}` }, alice),
      InvalidFieldError,
    ],
    [
      "funds created",
      a,
      (m) => proposeUpdate(m, { ...s1, outcome: { ...s1.outcome, balances: [[100n, 60n]] } }, alice),
      FundsNotConservedError,
    ],
    [
      "asset changed",
      a,
      (m) =>
        proposeUpdate(
          m,
          { ...s1, outcome: { ...s1.outcome, assets: [{ ...s1.outcome.assets[0]!, chainID: 9n }] } },
          alice,
        ),
      AssetsChangedError,
    ],
    [
      "app data in payment channel",
      a,
      (m) => proposeUpdate(m, { ...s1, appData: "0x01" }, alice),
      InvalidTransitionError,
    ],
    ["someone else's signer", a, (m) => proposeUpdate(m, s1, bob), SignerMismatchError],
    [
      "peer signature by mallory",
      b,
      (m) => receiveUpdate(m, s1, signState(s1, mallory), 0),
      SignerMismatchError,
    ],
    ["malformed peer signature", b, (m) => receiveUpdate(m, s1, "0x1234" as Hex, 0), InvalidSignatureError],
    ["message from our own index", b, (m) => receiveUpdate(m, s1, sigA, 1), InvalidTransitionError],
    ["message from unknown participant", b, (m) => receiveUpdate(m, s1, sigA, 5), UnknownParticipantError],
    ["acceptance without proposal", a, (m) => receiveAcceptance(m, sigA, 1), InvalidPhaseError],
    [
      "acceptance signed by mallory",
      pa.machine,
      (m) => receiveAcceptance(m, signState(s1, mallory), 1),
      SignerMismatchError,
    ],
    ["accepting our own proposal", pa.machine, (m) => acceptUpdate(m, alice), InvalidTransitionError],
    ["rejecting our own proposal", pa.machine, (m) => rejectUpdate(m, "no"), InvalidTransitionError],
    [
      "rejection of unknown version",
      pa.machine,
      (m) => receiveRejection(m, 1, 7n, "no"),
      InvalidTransitionError,
    ],
    [
      "initial state with version 1",
      createMachine(params, 0),
      (m) => proposeInit(m, { ...init, version: 1n }, alice),
      InvalidTransitionError,
    ],
    ["withdrawn before concluded", a, (m) => withdrawn(m), InvalidPhaseError],
    ["funded twice", a, (m) => funded(m), InvalidPhaseError],
  ];
  it.each(rows)("%s", (_name, m, event, error) => {
    const before = structuredClone(m);
    expect(() => event(m)).toThrow(error);
    expect(m).toEqual(before);
  });

  it("a final state that still locks a sub-channel is neither proposed nor signed (rule final-locked)", () => {
    // The ledger state locks V (25 of the 100): finalising it as is would let V be settled on chain at
    // any old state the moment it is registered.
    const sub = { ID: `0x${"5e".repeat(32)}` as Hex, balances: [25n], indexMap: [0, 1] };
    const locking: State = {
      ...s1,
      outcome: {
        ...s1.outcome,
        balances: [[s1.outcome.balances[0]![0]! - 25n, s1.outcome.balances[0]![1]!]],
        locked: [sub],
      },
    };
    const [la, lb] = update([a, b], 0, locking);
    const finalLocked: State = { ...locking, version: locking.version + 1n, isFinal: true };
    for (const attempt of [
      () => proposeUpdate(la, finalLocked, alice),
      () => receiveUpdate(lb, finalLocked, signState(finalLocked, alice), 0),
    ]) {
      try {
        attempt();
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(InvalidTransitionError);
        expect((e as InvalidTransitionError).rule).toBe("final-locked");
      }
    }
    expect(() => proposeFinal(la, alice)).toThrow(/must lock nothing/);
    // Without the lock, the same channel finalises as usual.
    const unlocked: State = { ...locking, version: locking.version + 1n, outcome: s1.outcome };
    const [ua] = update([la, lb], 1, unlocked);
    expect(proposeFinal(ua, alice).machine.pending?.state.isFinal).toBe(true);
  });

  it("every error carries a stable code", () => {
    try {
      proposeUpdate(a, { ...s1, version: 5n }, alice);
    } catch (e) {
      expect((e as InvalidTransitionError).code).toBe("INVALID_TRANSITION");
      expect((e as InvalidTransitionError).rule).toBe("version");
    }
  });
});

describe("properties", () => {
  type Step = { who: 0 | 1; amount: bigint; concurrent: boolean; reject: boolean };
  const stepArb: fc.Arbitrary<Step> = fc.record({
    who: fc.constantFrom(0 as const, 1 as const),
    amount: fc.bigInt({ min: 1n, max: 60n }),
    concurrent: fc.boolean(),
    reject: fc.boolean(),
  });

  it("versions only grow, funds are conserved, and both sides always agree", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { maxLength: 12 }), (steps) => {
        let ms = open();
        const signers = [alice, bob] as const;
        for (const step of steps) {
          const before = ms[0].current!.state.version;
          const cur = ms[0].current!.state;
          const pay = (who: 0 | 1, amount: bigint): State | undefined => {
            const bal = cur.outcome.balances[0]![who]!;
            return bal >= amount ? payment(cur, 0, who, 1 - who, amount) : undefined;
          };
          const mine = pay(step.who, step.amount);
          if (mine === undefined) continue;
          const other = step.concurrent ? pay((1 - step.who) as 0 | 1, 1n) : undefined;
          const p = proposeUpdate(ms[step.who], mine, signers[step.who]);
          const q =
            other === undefined ? undefined : proposeUpdate(ms[1 - step.who]!, other, signers[1 - step.who]!);
          const proposerM = p.machine;
          let responderM = q?.machine ?? ms[1 - step.who]!;
          let proposerFinal: Machine;
          // The responder handles the proposal (tie-break decides if both proposed).
          const recv = receiveUpdate(responderM, mine, proposerM.pending!.sigs[step.who]!, step.who);
          if (recv.machine.pending?.proposer === step.who) {
            // Responder now holds `mine` (it lost the tie-break, or there was none).
            if (step.reject) {
              const rj = rejectUpdate(recv.machine, "no");
              responderM = rj.machine;
              proposerFinal = deliver(proposerM, only(sends(rj.effects))).machine;
            } else {
              const acc = acceptUpdate(recv.machine, signers[1 - step.who]!);
              responderM = acc.machine;
              // If the proposer had received the responder's concurrent proposal, it ignored it (it won).
              proposerFinal = deliver(proposerM, only(sends(acc.effects))).machine;
            }
          } else {
            // The responder won the tie-break (lower index): the proposer drops its own and takes the winner's.
            const winner = q!.machine.pending!;
            const t = receiveUpdate(proposerM, winner.state, winner.sigs[1 - step.who]!, 1 - step.who);
            const acc = acceptUpdate(t.machine, signers[step.who]);
            proposerFinal = acc.machine;
            responderM = deliver(recv.machine, only(sends(acc.effects))).machine;
          }
          ms = step.who === 0 ? [proposerFinal, responderM] : [responderM, proposerFinal];
          expect(ms[0].phase).toBe("Acting");
          expect(ms[1].phase).toBe("Acting");
          expect(ms[0].current).toEqual(ms[1].current);
          expect(ms[0].current!.state.version >= before).toBe(true);
          expect(assetTotals(ms[0].current!.state.outcome)).toEqual([150n]);
        }
      }),
      { numRuns: 40 },
    );
  });
});
