/**
 * Property: whatever well-formed, correctly signed message sequence Mallory plays against an honest
 * client (docs/security.md), once everything is settled on chain the honest party has withdrawn at
 * least its balance in the newest state it signed (its latest fully signed state, or a proposal of its
 * own Mallory may have signed without telling), every deposit it made into a channel that never opened
 * came back, and no channel with deposits is left unconcluded once all timeouts have passed.
 *
 * Mallory's moves: channel proposals inside and outside the victim's policy (sent once or twice, funded
 * or not), updates that gain or lose the victim money, skip or repeat versions, finalise or lock funds
 * for made-up sub-channels, re-syncs with old states, answers to the victim's own payments (sign, refuse
 * or ignore), made-up virtual channels, registrations of old states on chain, and time passing. Runs:
 * PROPERTY_RUNS (default 6) of up to 10 moves, on the real EVM.
 */
import fc from "fast-check";
import { parseEther } from "viem";
import { beforeAll, describe, expect, it } from "vitest";
import { DisputePhase } from "../../src/chain/adjudicator.js";
import { devKey } from "../../src/chain/embedded.js";
import { fundingId } from "../../src/channel/hash.js";
import { signState } from "../../src/channel/sig.js";
import { privateKeyToSigner } from "../../src/channel/signer.js";
import type { Asset, Hex, State } from "../../src/channel/types.js";
import { virtualInitialState, virtualParams } from "../../src/channel/virtual.js";
import { type Party, until, type World, world } from "../client/harness.js";
import { ledgerProposal, MalloryChannel, mallory, randomHex32 } from "./mallory.js";

const ETH = parseEther("1");
const CAP = 5n * ETH;
const RUNS = Number(process.env.PROPERTY_RUNS ?? 6);

type Move =
  | {
      kind: "propose";
      cd: bigint;
      fundingTimeout: bigint;
      asset: "eth" | "foreign" | "twice";
      mine: bigint;
      theirs: bigint;
      twice: boolean;
      deposit: boolean;
    }
  | { kind: "update"; gain: bigint; versionStep: bigint; isFinal: boolean; lockJunk: boolean }
  | { kind: "victimPays"; answer: "sign" | "refuse" | "ignore" | "signSilently" }
  | { kind: "syncOld" }
  | { kind: "junk" }
  | { kind: "registerOld" }
  | { kind: "advance"; seconds: number };

const moveArb: fc.Arbitrary<Move> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("propose" as const),
      cd: fc.constantFrom(1n, 30n, 60n, 1n << 64n),
      fundingTimeout: fc.constantFrom(1n, 30n, 600n),
      asset: fc.constantFrom("eth" as const, "eth" as const, "foreign" as const, "twice" as const),
      mine: fc.constantFrom(0n, ETH),
      theirs: fc.constantFrom(0n, ETH, 20n * ETH),
      twice: fc.boolean(),
      deposit: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("update" as const),
      gain: fc.constantFrom(ETH / 10n, -ETH / 10n, 0n),
      versionStep: fc.constantFrom(1n, 1n, 1n, 0n, 2n),
      isFinal: fc.boolean().map((b) => b && Math.random() < 0.3),
      lockJunk: fc.boolean().map((b) => b && Math.random() < 0.3),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("victimPays" as const),
      answer: fc.constantFrom("sign" as const, "refuse" as const, "ignore" as const, "signSilently" as const),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "syncOld" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "junk" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "registerOld" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("advance" as const), seconds: fc.constantFrom(5, 40, 700) }),
  },
);

let w: World;
beforeAll(async () => {
  w = await world();
});

/** One run: Mallory's moves against a fresh victim; then settlement and the invariant. */
async function play(moves: Move[]): Promise<void> {
  w.resetNetwork();
  const victim: Party = await w.party("Victim", 2, {
    options: { peerTimeoutMs: 400 },
    policy: {
      challengeDuration: { min: 10n, max: 1_000n },
      fundingTimeout: { min: 10n, max: 1_000n },
      maxDeposit: { [w.eth.ethHolder]: CAP },
    },
  });
  const m = mallory(w, 3);
  const channels: MalloryChannel[] = [];
  /** What the victim deposited into each channel it accepted. */
  const deposits = new Map<string, bigint>();
  /** Signatures the victim gave on its own proposals that Mallory kept to herself. */
  const silent: { ch: MalloryChannel; state: State; sig: Hex }[] = [];
  /**
   * The victim is online: it answers a registration on chain with its newest state before time moves
   * on (what the invariant assumes; a party offline past the challenge duration can lose).
   */
  const answered = async (ch: MalloryChannel) => {
    await until(
      async () => {
        const rec = victim.store.getChannel(ch.id);
        const d = await m.chain.dispute(ch.id);
        if (!rec || !d) return true;
        const ours = rec.machine.current?.state.version ?? 0n;
        return d.version >= ours || rec.machine.phase === "Funding";
      },
      3_000,
      "the victim's answer on chain",
    ).catch(() => undefined);
  };
  const open = () =>
    channels.filter((c) => victim.client.channels().find((x) => x.channelID === c.id)?.phase === "Acting");
  try {
    for (const mv of moves) {
      switch (mv.kind) {
        case "propose": {
          const asset: Asset = mv.asset === "foreign" ? { ...w.eth, chainID: 1n } : w.eth;
          const assets = mv.asset === "twice" ? [w.eth, w.eth] : [asset];
          const d = ledgerProposal(m, victim.address, {
            assets,
            balances: assets.map(() => [mv.mine, mv.theirs] as [bigint, bigint]),
            challengeDuration: mv.cd,
            fundingTimeout: mv.fundingTimeout,
          });
          const since = m.inbox.length;
          await m.send(victim.address, d.msg);
          if (mv.twice) await m.send(victim.address, d.msg);
          const answer = await m.receive(
            victim.address,
            (x) =>
              (x.type === "channelAccept" || x.type === "channelReject") && x.proposalID === d.msg.proposalID,
            since,
          );
          if (answer.type !== "channelAccept") break;
          const ch = new MalloryChannel(m, victim.address, d.params, 0);
          ch.signedByBoth(d.initial, answer.sig);
          channels.push(ch);
          deposits.set(ch.id, mv.theirs);
          if (mv.deposit && mv.mine > 0n) await ch.deposit(w.eth, mv.mine);
          if (mv.deposit || mv.mine === 0n) {
            await until(
              () => ["Acting", "Registered", "Withdrawn"].includes(victim.client.channel(ch.id).phase),
              5_000,
              "the victim sees it funded",
            ).catch(() => undefined);
          }
          break;
        }
        case "update": {
          const ch = open()[0];
          if (!ch) break;
          const cur = ch.latest.state;
          const row = cur.outcome.balances[0] as bigint[];
          const gain = mv.gain > (row[0] as bigint) ? 0n : mv.gain < -(row[1] as bigint) ? 0n : mv.gain;
          let next: State = {
            ...cur,
            version: cur.version + mv.versionStep,
            isFinal: mv.isFinal,
            outcome: { ...cur.outcome, balances: [[(row[0] as bigint) - gain, (row[1] as bigint) + gain]] },
          };
          if (mv.lockJunk && (next.outcome.balances[0]?.[0] as bigint) > 1n) {
            const bal = next.outcome.balances[0] as bigint[];
            next = {
              ...next,
              outcome: {
                ...next.outcome,
                balances: [[(bal[0] as bigint) - 1n, bal[1] as bigint]],
                locked: [{ ID: randomHex32(), balances: [1n], indexMap: [0, 1] }],
              },
            };
          }
          await ch.propose(next, 2_000).catch(() => undefined);
          break;
        }
        case "victimPays": {
          const ch = open()[0];
          if (!ch) break;
          const since = m.inbox.length;
          const paying = victim.client.pay(ch.id, 1_000n).catch(() => undefined);
          const proposal = await m
            .receive(victim.address, (x) => x.type === "update" && x.channelID === ch.id, since, 2_000)
            .catch(() => undefined);
          if (proposal?.type === "update") {
            const state = proposal.state;
            const sig = m.sign(state);
            if (mv.answer === "sign") {
              await m.send(victim.address, {
                type: "updateAccept",
                channelID: ch.id,
                from: 0,
                version: state.version,
                sig,
              });
              ch.history.push({ state, sigs: [sig, proposal.sig] });
            } else if (mv.answer === "refuse") {
              await m.send(victim.address, {
                type: "updateReject",
                channelID: ch.id,
                from: 0,
                version: state.version,
                reason: "no",
              });
            } else if (mv.answer === "signSilently") {
              silent.push({ ch, state, sig: proposal.sig });
            }
          }
          await paying;
          break;
        }
        case "syncOld": {
          const ch = channels[0];
          const old = ch?.history[0];
          if (ch && old)
            await m.send(victim.address, {
              type: "sync",
              channelID: ch.id,
              state: old.state,
              sigs: old.sigs,
            });
          break;
        }
        case "junk": {
          const other = privateKeyToSigner(devKey(5));
          const params = virtualParams({
            alice: m.address,
            bob: other.address,
            nonce: BigInt(randomHex32()),
            challengeDuration: 60n,
          });
          const state = { ...virtualInitialState(params, [w.eth], [[ETH, 0n]]), version: 3n, isFinal: true };
          await m.send(victim.address, {
            type: "virtualFinal",
            params,
            state,
            sigs: [m.sign(state), signState(state, other)],
          });
          break;
        }
        case "registerOld": {
          const ch = channels.find((c) => c.history.length > 1) ?? channels[0];
          const old = ch?.history[0];
          if (ch && old) {
            await m.chain
              .register({ params: ch.params, state: old.state, sigs: old.sigs })
              .catch(() => undefined);
            await answered(ch);
          }
          break;
        }
        case "advance":
          await w.advance(mv.seconds);
          break;
      }
    }

    // Settlement: Mallory registers the oldest state of every channel still open; the victim's watcher
    // refutes, concludes and withdraws. Unfunded channels time out and are recovered.
    for (const ch of channels) {
      const old = ch.history[0];
      if (old)
        await m.chain
          .register({ params: ch.params, state: old.state, sigs: old.sigs })
          .catch(() => undefined);
    }
    for (const ch of channels) await answered(ch);
    const settled = () =>
      channels.every((c) => {
        const phase = victim.client.channels().find((x) => x.channelID === c.id)?.phase;
        return phase === undefined || phase === "Withdrawn";
      });
    for (let round = 0; round < 12 && !settled(); round++) {
      await w.advance(1_001);
      await until(settled, 1_500, "settlement").catch(() => undefined);
    }
    expect(
      settled(),
      `every channel settled: ${JSON.stringify(victim.client.channels().map((c) => c.phase))}`,
    ).toBe(true);

    for (const ch of channels) {
      const rec = victim.store.getChannel(ch.id);
      if (!rec) continue;
      const withdrawn = victim.events
        .flatMap((e) => (e.type === "withdrawn" && e.channelID === ch.id ? e.amounts : []))
        .reduce((s, x) => s + x, 0n);
      // Its newest signed state: the current one, or its own proposal Mallory signed and kept.
      const mine = (s: State | undefined) => s?.outcome.balances[0]?.[1];
      const candidates = [mine(rec.machine.current?.state)];
      for (const s of silent) if (s.ch === ch) candidates.push(mine(s.state));
      const floor = candidates.filter((x): x is bigint => x !== undefined).reduce((a, b) => (a < b ? a : b));
      const everOpen = rec.fundingDeadline === null && rec.machine.dispute?.version !== 0n;
      if (everOpen) {
        expect(
          withdrawn,
          `channel ${ch.id}: withdrew at least its newest signed balance`,
        ).toBeGreaterThanOrEqual(floor);
      } else {
        expect(withdrawn, `channel ${ch.id}: its deposit came back`).toBeGreaterThanOrEqual(
          deposits.get(ch.id) ?? 0n,
        );
      }
      expect(await w.ethHolder.holdings(fundingId(ch.id, victim.address))).toBe(0n);
      const onChain = await m.chain.dispute(ch.id);
      if (onChain) expect(onChain.phase).toBe(DisputePhase.CONCLUDED);
    }
    // Never more than the cap into any channel Mallory proposed.
    for (const d of deposits.values()) expect(d).toBeLessThanOrEqual(CAP);
  } finally {
    await victim.stop({ leave: true });
    await m.close();
  }
}

describe("property: an honest client against Mallory's message sequences", () => {
  it("the honest party never ends with less than its newest signed balance; nothing stays locked", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(moveArb, { minLength: 3, maxLength: 10 }), async (moves) => {
        // Every run opens at least one channel within the policy, so that the moves have something to act on.
        await play([
          {
            kind: "propose",
            cd: 60n,
            fundingTimeout: 30n,
            asset: "eth",
            mine: ETH,
            theirs: ETH,
            twice: false,
            deposit: true,
          },
          ...moves,
        ]);
      }),
      { numRuns: RUNS, endOnFailure: true },
    );
  }, 600_000);
});
