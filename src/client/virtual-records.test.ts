/** The virtual-channel records (./virtual-records.ts): one store row each, removed when they end. */
import { describe, expect, it } from "vitest";
import type { Hex } from "../channel/types.js";
import { ALICE, BOB, ETH, finalOf, INGRID, virtualFixture } from "../channel/virtual.testutil.js";
import { decodeJson, encodeJson } from "../store/json.js";
import { createMemoryStore } from "../store/memory-store.js";
import type { VirtualFinalMsg, VirtualFundingMsg } from "../wire/messages.js";
import { VirtualRecords } from "./virtual-records.js";

const V = virtualFixture([ETH], [[3n, 2n]]);
const W = virtualFixture([ETH], [[1n, 1n]], ALICE, BOB, 8n);
const sigs = ["0x01", "0x02"] as Hex[];
const context = (v: typeof V): VirtualFundingMsg => ({
  type: "virtualFunding",
  path: [ALICE, INGRID, BOB],
  ledgerIDs: [`0x${"11".repeat(32)}`, `0x${"22".repeat(32)}`],
  params: v.params,
  initial: v.initial,
  sigs,
  fees: [[1n]],
  expiry: 100n,
});
const final = (v: typeof V): VirtualFinalMsg => ({
  type: "virtualFinal",
  params: v.params,
  state: finalOf(v.initial, [[4n, 1n]]),
  sigs,
});
const held = { ledgerID: `0x${"AB".repeat(32)}` as Hex, state: V.initial, sig: "0x03" as Hex, from: 0 };

describe("VirtualRecords", () => {
  it("writes one row per context, final state and held lock, and reads them back after a restart", () => {
    const store = createMemoryStore();
    const r = new VirtualRecords(store);
    r.putContext(context(V));
    r.putContext(context(W));
    r.putFinal(final(V));
    r.putHeld(held);
    expect(store.listRecords("virtual.context").map((x) => x.id)).toEqual(
      [V.id.toLowerCase(), W.id.toLowerCase()].sort(),
    );
    const again = new VirtualRecords(store);
    again.load();
    expect(again.context(V.id)).toEqual(context(V));
    expect(again.context(V.id.toUpperCase().replace("0X", "0x") as Hex)).toEqual(context(V));
    expect(again.final(V.id)).toEqual(final(V));
    expect(again.heldIn(held.ledgerID.toLowerCase() as Hex)).toEqual(held);
    expect(again.virtualIDs().sort()).toEqual([V.id.toLowerCase(), W.id.toLowerCase()].sort());
  });

  it("forgets a V's context and final state (only that V's rows), and an answered held lock", () => {
    const store = createMemoryStore();
    const r = new VirtualRecords(store);
    r.putContext(context(V));
    r.putContext(context(W));
    r.putFinal(final(V));
    r.putHeld(held);
    r.forget(V.id);
    r.dropHeld(held.ledgerID);
    expect(r.context(V.id)).toBeUndefined();
    expect(r.final(V.id)).toBeUndefined();
    expect(r.heldIn(held.ledgerID)).toBeUndefined();
    expect(store.listRecords("virtual.context").map((x) => x.id)).toEqual([W.id.toLowerCase()]);
    expect(store.listRecords("virtual.final")).toEqual([]);
    expect(store.listRecords("virtual.held")).toEqual([]);
    expect(r.contextCount()).toBe(1);
  });

  it("imports the single meta row of earlier versions into rows, once, and removes it", () => {
    const store = createMemoryStore();
    store.setMeta(
      "client.intermediary",
      encodeJson({ contexts: [context(V), context(W)], finals: [final(V)], held: [held] }),
    );
    const r = new VirtualRecords(store);
    r.load();
    expect(store.getMeta("client.intermediary")).toBeUndefined();
    expect(r.allContexts()).toHaveLength(2);
    expect(r.final(V.id)).toEqual(final(V));
    expect(r.allHeld()).toEqual([held]);
    expect(decodeJson(store.listRecords("virtual.final")[0]?.value as string)).toEqual(final(V));
  });
});
