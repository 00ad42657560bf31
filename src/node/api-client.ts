/**
 * A small client of the node's local API (./api.ts), used by the CLI commands and the scenario
 * tests. Amounts go in as bigints and out as decimal strings, as on the wire; error answers become
 * ApiError with the API's code, message and hint.
 *
 * @example
 * const api = new ApiClient("http://127.0.0.1:5001");
 * const { channelID } = await api.open({ peer: bob, deposit: 10n ** 18n, peerDeposit: 0n });
 * await api.pay(channelID, 10n ** 15n);
 * const v = await api.openVirtual({ peer: bob, via: ingrid, ledger, peerLedger, deposit: 10n ** 18n,
 *   peerDeposit: 0n, fee: 10n ** 13n, seconds: 3600 });
 * // Two intermediaries: path order, one ledger channel after ours and one fee per intermediary.
 * await api.openVirtual({ peer: bob, via: [ingrid, irene], ledger, peerLedger: [ingridIrene, ireneBob],
 *   deposit: 10n ** 18n, peerDeposit: 0n, fee: [10n ** 13n, 10n ** 13n], seconds: 3600 });
 */
import type { Address, Hex } from "../channel/types.js";
import type { ApiGraph } from "./api.js";
import { ApiError, ApiUnreachableError } from "./errors.js";

export type { ApiGraph, ApiLedgerEdge } from "./api.js";

export interface ApiChannel {
  readonly channelID: Hex;
  readonly peer: Address;
  readonly idx: number;
  readonly phase: string;
  readonly version: string | null;
  /** balances[asset][participant], wei as decimal strings; participant `idx` is this node. */
  readonly balances: string[][] | null;
  readonly assets: { readonly symbol: string | null; readonly holder: Address }[];
  /** Set for virtual channels: [V.alice, intermediaries..., V.bob], and whether our side is unlocked. */
  readonly virtual?: { readonly path: Address[]; readonly unlocked: boolean };
}

/** An intermediary's published rental terms (GET /v1/info); wei as decimal strings. */
export interface ApiTerms {
  readonly baseFee: string;
  readonly ratePerSecondPerUnit: string;
  readonly maxDurationSeconds: number;
}

export interface ApiNodeInfo {
  readonly address: Address;
  readonly chainId: number;
  readonly wireUrl: string;
  readonly adjudicator: Address;
  readonly assets: Record<string, Address>;
  /** Rental terms if the node offers virtual channels as an intermediary, else null. */
  readonly intermediary: ApiTerms | null;
}

export interface OpenRequest {
  readonly peer: Address;
  readonly peerUrl?: string;
  readonly asset?: string;
  readonly deposit: bigint;
  readonly peerDeposit: bigint;
  readonly challengeDuration?: number;
  readonly fundingTimeout?: number;
}

export interface OpenVirtualRequest {
  readonly peer: Address;
  /**
   * The intermediary; `ledger` is our ledger channel with her, `peerLedger` hers with `peer`. Or the
   * intermediaries in path order: `ledger` is ours with via[0], `peerLedger` the ledger channels
   * after it (via[0]-via[1], ..., last intermediary-peer), `fee` each one's fee.
   */
  readonly via: Address | readonly Address[];
  readonly ledger: Hex;
  readonly peerLedger: Hex | readonly Hex[];
  readonly deposit: bigint;
  readonly peerDeposit: bigint;
  /** Each intermediary's fee (wei), at least what her terms ask for `seconds`. */
  readonly fee: bigint | readonly bigint[];
  readonly seconds: number;
  readonly challengeDuration?: number;
}

export class ApiClient {
  readonly url: string;
  constructor(url: string) {
    this.url = url.replace(/\/+$/, "");
  }

  info(): Promise<ApiNodeInfo> {
    return this.call("GET", "/v1/info");
  }

  /** The node's open ledger channels as edges of the channel graph, for path finding. */
  graph(): Promise<ApiGraph> {
    return this.call("GET", "/v1/graph");
  }

  channels(): Promise<ApiChannel[]> {
    return this.call("GET", "/v1/channels");
  }

  channel(id: Hex): Promise<ApiChannel> {
    return this.call("GET", `/v1/channels/${id}`);
  }

  open(req: OpenRequest): Promise<{ channelID: Hex }> {
    return this.call("POST", "/v1/channels", {
      ...req,
      deposit: req.deposit.toString(),
      peerDeposit: req.peerDeposit.toString(),
    });
  }

  /** Opens a virtual channel through `via`; resolves once our side is locked (no transaction). */
  openVirtual(req: OpenVirtualRequest): Promise<{ channelID: Hex }> {
    return this.call("POST", "/v1/virtual", {
      ...req,
      deposit: req.deposit.toString(),
      peerDeposit: req.peerDeposit.toString(),
      fee: typeof req.fee === "bigint" ? req.fee.toString() : req.fee.map((f) => f.toString()),
    });
  }

  pay(id: Hex, amount: bigint, asset?: number): Promise<{ version: string; balances: string[][] }> {
    return this.call("POST", `/v1/channels/${id}/pay`, {
      amount: amount.toString(),
      ...(asset === undefined ? {} : { asset }),
    });
  }

  close(id: Hex, force = false): Promise<{ ok: true }> {
    return this.call("POST", `/v1/channels/${id}/close`, force ? { force } : {});
  }

  dispute(id: Hex): Promise<{ ok: true }> {
    return this.call("POST", `/v1/channels/${id}/dispute`, {});
  }

  private async call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method,
        ...(body === undefined
          ? {}
          : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new ApiUnreachableError(this.url, err);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ApiError(res.status, "API_BAD_RESPONSE", `The node answered ${method} ${path} with non-JSON`);
    }
    if (!res.ok) {
      const e = (json as { error?: { code?: unknown; message?: unknown; hint?: unknown } }).error ?? {};
      throw new ApiError(
        res.status,
        typeof e.code === "string" ? e.code : "API_ERROR",
        typeof e.message === "string" ? e.message : `${method} ${path} failed`,
        typeof e.hint === "string" ? e.hint : undefined,
      );
    }
    return json as T;
  }
}
