/**
 * `perun demo`: the whole ledger-channel story on a real EVM, with every
 * on-chain balance printed and checked at the end.
 *
 * Alice and Bob each run the pure channel machine (src/channel/machine.ts);
 * their messages are handed over in process here (the socket wire and the node
 * are the next layer up). Chain steps go through the contract bindings:
 * deploy -> both sign version 0 -> both deposit -> N off-chain payments ->
 * final state -> concludeFinal -> both withdraw.
 */
import { randomBytes } from "node:crypto";
import type { TransactionReceipt } from "viem";
import { formatEther, parseEther } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { EthAdjudicator } from "../chain/adjudicator.js";
import { EthAssetHolder } from "../chain/asset-holder.js";
import { type ChainConnection, connectChain } from "../chain/connection.js";
import { deployPerun } from "../chain/deploy.js";
import { createEmbeddedChain, devKey } from "../chain/embedded.js";
import {
  acceptUpdate,
  type ChannelMsg,
  createMachine,
  type Effect,
  funded,
  fundingId,
  type Machine,
  payment,
  privateKeyToSigner,
  proposeFinal,
  proposeInit,
  proposeUpdate,
  receiveAcceptance,
  receiveUpdate,
  type Signer,
  secp256k1Backend,
  signWithdrawalAuth,
} from "../channel/index.js";
import type { Address, Hex, Params, State } from "../channel/types.js";
import { ZERO_ADDRESS } from "../channel/types.js";
import { PerunError } from "../errors.js";
import { runVirtualDemo } from "./demo-virtual.js";
import { UsageError } from "./usage-error.js";

interface Party {
  readonly name: string;
  readonly key: Hex;
  readonly address: Address;
  readonly signer: Signer;
  machine: Machine;
  fees: bigint;
}

export class DemoCheckError extends PerunError {
  constructor(what: string, expected: bigint, actual: bigint) {
    super(
      "DEMO_CHECK_FAILED",
      `${what}: expected ${formatEther(expected)} ETH, found ${formatEther(actual)} ETH.`,
      {
        details: { expected: `${expected}`, actual: `${actual}` },
        hint: "The chain does not show what the last signed state says; this is a bug, please report it.",
      },
    );
  }
}

export async function demoCommand(opts: { rpc?: string; payments?: string }): Promise<void> {
  const n = opts.payments === undefined ? 200 : Number(opts.payments);
  if (!Number.isInteger(n) || n < 0 || n > 1_000_000) {
    throw new UsageError(`--payments must be an integer from 0 to 1000000, got "${opts.payments}".`);
  }
  const log = (s: string) => process.stdout.write(`${s}\n`);
  const conn = opts.rpc
    ? await connectChain({ rpcUrl: opts.rpc })
    : await connectChain({ embedded: await createEmbeddedChain() });
  log(
    `chain: ${conn.url === "embedded" ? "embedded EVM (Hardhat EDR, in process)" : conn.url}, id ${conn.chainId}`,
  );
  const deployment = await runLedgerDemo(conn, n, log);
  await runVirtualDemo(conn, deployment, n, log);
}

export async function runLedgerDemo(conn: ChainConnection, payments: number, log: (s: string) => void) {
  const deployment = await deployPerun(conn, devKey(0));
  log(`deployed Adjudicator ${deployment.adjudicator}, AssetHolderETH ${deployment.assetHolderETH}`);
  const [alice, bob] = ["Alice", "Bob"].map((name, i) => {
    const key = devKey(i + 1);
    const signer = privateKeyToSigner(key);
    return { name, key, address: privateKeyToAccount(key).address, signer, fees: 0n } as Party;
  }) as [Party, Party];
  const parties = [alice, bob];
  const holder = new EthAssetHolder(conn, deployment.assetHolderETH);
  const adjudicator = (p: Party) => new EthAdjudicator(conn, deployment.adjudicator, p.key);
  const walletBefore = await Promise.all(parties.map((p) => holder.balanceOf(p.address)));

  const params: Params = {
    challengeDuration: 60n,
    nonce: BigInt(`0x${randomBytes(32).toString("hex")}`),
    participants: parties.map((p) => ({ ethAddress: p.address, ccAddress: "0x" })),
    app: ZERO_ADDRESS,
    ledgerChannel: true,
    virtualChannel: false,
  };
  alice.machine = createMachine(params, 0);
  bob.machine = createMachine(params, 1);
  const deposits = [parseEther("3"), parseEther("2")];
  const initial: State = {
    channelID: alice.machine.channelID,
    version: 0n,
    outcome: {
      assets: [{ chainID: BigInt(conn.chainId), ethHolder: deployment.assetHolderETH, ccHolder: "0x" }],
      backends: [0n],
      balances: [deposits],
      locked: [],
    },
    appData: "0x",
    isFinal: false,
  };

  // Both sign version 0 before anyone deposits: with it, a deposit can always be recovered.
  exchange(parties, 0, proposeInit(alice.machine, initial, alice.signer).machine);
  log(`channel ${alice.machine.channelID}: version 0 signed by both (${alice.machine.phase})`);

  for (const [i, p] of parties.entries()) {
    const receipt = await holder.deposit(
      p.key,
      fundingId(alice.machine.channelID, p.address),
      deposits[i] as bigint,
    );
    p.fees += fee(receipt);
  }
  for (const p of parties) p.machine = funded(p.machine).machine;
  log(
    `funded: Alice deposited ${formatEther(deposits[0] as bigint)} ETH, Bob ${formatEther(deposits[1] as bigint)} ETH`,
  );

  // Off-chain payments: alternate directions; each is one full propose/accept round with
  // both signatures checked by both machines.
  const started = performance.now();
  for (let i = 0; i < payments; i++) {
    const from = i % 3 === 2 ? 1 : 0; // Alice pays twice, Bob once
    const payer = parties[from] as Party;
    const next = payment(
      (payer.machine.current as { state: State }).state,
      0,
      from,
      1 - from,
      parseEther("0.001"),
    );
    exchange(parties, from, proposeUpdate(payer.machine, next, payer.signer).machine);
  }
  const ms = performance.now() - started;
  if (payments > 0) {
    log(
      `${payments} off-chain payments in ${ms.toFixed(0)} ms (${Math.round((payments / ms) * 1000)} updates/s, ` +
        `${secp256k1Backend().name} secp256k1, both sides in one process)`,
    );
  }

  exchange(parties, 0, proposeFinal(alice.machine, alice.signer).machine);
  const final = alice.machine.current as { state: State; sigs: readonly (Hex | null)[] };
  if (alice.machine.phase !== "Final" || bob.machine.phase !== "Final") {
    throw new PerunError(
      "DEMO_PHASE",
      `Expected both in phase Final, got ${alice.machine.phase}/${bob.machine.phase}.`,
    );
  }
  const finalBalances = final.state.outcome.balances[0] as readonly bigint[];
  log(
    `final state v${final.state.version}: Alice ${formatEther(finalBalances[0] as bigint)} ETH, ` +
      `Bob ${formatEther(finalBalances[1] as bigint)} ETH`,
  );

  const closing = await adjudicator(alice).concludeFinal(params, final.state, final.sigs as Hex[]);
  alice.fees += fee(closing);
  log(`concludeFinal: ${closing.gasUsed} gas`);

  for (const [i, p] of parties.entries()) {
    const auth = {
      channelID: final.state.channelID,
      participant: { ethAddress: p.address, ccAddress: "0x" as Hex },
      receiver: p.address,
      amount: finalBalances[i] as bigint,
    };
    const receipt = await holder.withdraw(p.key, auth, signWithdrawalAuth(auth, p.signer));
    p.fees += fee(receipt);
    log(`${p.name} withdrew ${formatEther(auth.amount)} ETH (${receipt.gasUsed} gas)`);
  }

  log("\non-chain balances (ETH):");
  log("party   before                deposited  channel outcome  gas fees              after");
  for (const [i, p] of parties.entries()) {
    const before = walletBefore[i] as bigint;
    const after = await holder.balanceOf(p.address);
    const expected = before - (deposits[i] as bigint) - p.fees + (finalBalances[i] as bigint);
    log(
      `${p.name.padEnd(7)} ${formatEther(before).padEnd(21)} ${formatEther(deposits[i] as bigint).padEnd(10)} ` +
        `${formatEther(finalBalances[i] as bigint).padEnd(16)} ${formatEther(p.fees).padEnd(21)} ${formatEther(after)}`,
    );
    if (after !== expected) throw new DemoCheckError(`${p.name}'s wallet after closing`, expected, after);
    const left = await holder.holdings(fundingId(final.state.channelID, p.address));
    if (left !== 0n) throw new DemoCheckError(`${p.name}'s holdings after withdrawing`, 0n, left);
  }
  log("check: every wallet = before - deposit - gas fees + final channel balance; holdings empty. OK");
  return deployment;
}

function fee(r: TransactionReceipt): bigint {
  return r.gasUsed * r.effectiveGasPrice;
}

/**
 * Runs one proposal round in process: `proposer` already moved to `proposed`; its
 * effects' messages are delivered to the other machine, which accepts, and the
 * acceptance comes back. Both machines end with the same fully signed state.
 */
function exchange(parties: Party[], proposer: number, proposed: Machine): void {
  const p = parties[proposer] as Party;
  const q = parties[1 - proposer] as Party;
  p.machine = proposed;
  const pending = proposed.pending;
  if (pending === null) throw new PerunError("DEMO_PHASE", "No pending proposal to exchange.");
  const sig = pending.sigs[proposer] as Hex;
  q.machine = receiveUpdate(q.machine, pending.state, sig, proposer).machine;
  const accepted = acceptUpdate(q.machine, q.signer);
  q.machine = accepted.machine;
  const accept = accepted.effects.find(
    (e: Effect): e is Extract<Effect, { type: "send" }> => e.type === "send" && e.msg.type === "accept",
  )?.msg as Extract<ChannelMsg, { type: "accept" }>;
  p.machine = receiveAcceptance(p.machine, accept.sig, 1 - proposer, accept.version).machine;
}
