/**
 * What this client knows of virtual channels beyond its own channel records, kept durably one row
 * each (design.md section 5): the context of every V we intermediate (its path, ledger channels,
 * fees, expiry and initial state signed by both ends), V's final state signed by both ends once it
 * is known, and the peers' lock proposals we hold while V's path is being locked. After a restart
 * they let us register V with our ledger channels and finish every half-done lock.
 *
 * A record is written when it changes and removed when it ends: a held lock once answered; a V's
 * context and final state once none of our ledger channels locks V any more (see
 * `virtualRecordsEnded`).
 */
import type { Hex } from "../channel/types.js";
import { decodeJson, encodeJson } from "../store/json.js";
import type { Store } from "../store/store.js";
import type { VirtualFinalMsg, VirtualFundingMsg } from "../wire/messages.js";
import type { HeldLock } from "./types.js";

/** The single meta row of earlier versions, imported into rows once and then removed. */
const LEGACY_KEY = "client.intermediary";

const CONTEXT = "virtual.context";
const FINAL = "virtual.final";
const HELD = "virtual.held";

export class VirtualRecords {
  private readonly contexts = new Map<string, VirtualFundingMsg>();
  private readonly finals = new Map<string, VirtualFinalMsg>();
  private readonly held = new Map<string, HeldLock>();

  constructor(private readonly store: Store) {}

  load(): void {
    this.importLegacy();
    for (const { value } of this.store.listRecords(CONTEXT)) {
      const c = decodeJson(value) as VirtualFundingMsg;
      this.contexts.set(key(c.initial.channelID), c);
    }
    for (const { value } of this.store.listRecords(FINAL)) {
      const f = decodeJson(value) as VirtualFinalMsg;
      this.finals.set(key(f.state.channelID), f);
    }
    for (const { value } of this.store.listRecords(HELD)) {
      const h = decodeJson(value) as HeldLock;
      this.held.set(key(h.ledgerID), h);
    }
  }

  // -- contexts (by V's id)
  context(vID: Hex): VirtualFundingMsg | undefined {
    return this.contexts.get(key(vID));
  }

  allContexts(): VirtualFundingMsg[] {
    return [...this.contexts.values()];
  }

  contextCount(): number {
    return this.contexts.size;
  }

  putContext(c: VirtualFundingMsg): void {
    const k = key(c.initial.channelID);
    this.store.putRecord(CONTEXT, k, encodeJson(c));
    this.contexts.set(k, c);
  }

  // -- final states (by V's id)
  final(vID: Hex): VirtualFinalMsg | undefined {
    return this.finals.get(key(vID));
  }

  putFinal(f: VirtualFinalMsg): void {
    const k = key(f.state.channelID);
    this.store.putRecord(FINAL, k, encodeJson(f));
    this.finals.set(k, f);
  }

  /** V has ended for us: its context and final state are no longer needed. */
  forget(vID: Hex): void {
    const k = key(vID);
    if (this.contexts.delete(k)) this.store.deleteRecord(CONTEXT, k);
    if (this.finals.delete(k)) this.store.deleteRecord(FINAL, k);
  }

  /** Ids of every V we keep a context or a final state of. */
  virtualIDs(): Hex[] {
    return [...new Set([...this.contexts.keys(), ...this.finals.keys()])] as Hex[];
  }

  // -- held lock proposals (by ledger channel id)
  heldIn(ledgerID: Hex): HeldLock | undefined {
    return this.held.get(key(ledgerID));
  }

  allHeld(): HeldLock[] {
    return [...this.held.values()];
  }

  putHeld(h: HeldLock): void {
    const k = key(h.ledgerID);
    this.store.putRecord(HELD, k, encodeJson(h));
    this.held.set(k, h);
  }

  dropHeld(ledgerID: Hex): void {
    const k = key(ledgerID);
    if (this.held.delete(k)) this.store.deleteRecord(HELD, k);
  }

  private importLegacy(): void {
    const text = this.store.getMeta(LEGACY_KEY);
    if (text === undefined) return;
    const saved = decodeJson(text) as {
      contexts?: VirtualFundingMsg[];
      finals?: VirtualFinalMsg[];
      held?: HeldLock[];
    };
    for (const c of saved.contexts ?? [])
      this.store.putRecord(CONTEXT, key(c.initial.channelID), encodeJson(c));
    for (const f of saved.finals ?? []) this.store.putRecord(FINAL, key(f.state.channelID), encodeJson(f));
    for (const h of saved.held ?? []) this.store.putRecord(HELD, key(h.ledgerID), encodeJson(h));
    this.store.deleteMeta(LEGACY_KEY);
  }
}

function key(id: Hex): string {
  return id.toLowerCase();
}
