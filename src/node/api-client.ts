/**
 * A small client of the node's local API (./api.ts), used by the CLI commands and the scenario
 * tests. Amounts go in as bigints and out as decimal strings, as on the wire; error answers become
 * ApiError with the API's code, message and hint. Every request carries the node's API secret as
 * `Authorization: Bearer <secret>`: given, or found from the URL as the CLI does (`ApiClient.discover`:
 * --api-secret-file, $PERUN_API_SECRET_FILE, else the node's pointer file; see ./api-secret.ts).
 *
 * @example
 * const api = ApiClient.discover("http://127.0.0.1:5001"); // or new ApiClient(url, { secret })
 * const { channelID } = await api.open({ peer: bob, deposit: 10n ** 18n, peerDeposit: 0n });
 * await api.pay(channelID, 10n ** 15n);
 * const v = await api.openVirtual({ peer: bob, via: ingrid, ledger, peerLedger, deposit: 10n ** 18n,
 *   peerDeposit: 0n, fee: 10n ** 13n, seconds: 3600 });
 * // Two intermediaries: path order, one ledger channel after ours and one fee per intermediary.
 * await api.openVirtual({ peer: bob, via: [ingrid, irene], ledger, peerLedger: [ingridIrene, ireneBob],
 *   deposit: 10n ** 18n, peerDeposit: 0n, fee: [10n ** 13n, 10n ** 13n], seconds: 3600 });
 */
import { connect } from "node:net";
import type { Address, Hex } from "../channel/types.js";
import type { ApiGraph } from "./api.js";
import { type DiscoverOptions, discoverApiSecret } from "./api-secret.js";
import { ApiError, ApiSecretError, ApiUnreachableError } from "./errors.js";

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
  /** Set for app channels: the app's name, contract and state in people's terms (e.g. the board). */
  readonly app?: { readonly name: string; readonly address: Address; readonly state: unknown };
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
  /** App contracts the node plays, by app name. */
  readonly apps: Record<string, Address>;
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
  /** An app the nodes play (GET /v1/info `apps`), e.g. "tictactoe", and its options for a new game. */
  readonly app?: string;
  readonly appOptions?: unknown;
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
  /** An app both ends play (GET /v1/info `apps`), e.g. "tictactoe": a virtual state channel. */
  readonly app?: string;
  readonly appOptions?: unknown;
}

export interface ApiClientOptions {
  /**
   * The node's API secret (64 hex digits), sent as a bearer token with every request; or a function
   * that finds it, called once, at the first request.
   */
  readonly secret?: string | (() => string);
}

export class ApiClient {
  readonly url: string;
  #secret: string | (() => string) | undefined;
  constructor(url: string, options: ApiClientOptions = {}) {
    this.url = url.replace(/\/+$/, "");
    this.#secret = options.secret;
  }

  /**
   * A client with the secret of the node at `url`: from `secretFile` if given, else the file in
   * $PERUN_API_SECRET_FILE, else the pointer the node left for its user. Found at the first request
   * (so that bad arguments are reported first), which throws ApiSecretError saying which file and
   * why if there is none or it is not ours to read.
   */
  static discover(url: string, options: DiscoverOptions = {}): ApiClient {
    return new ApiClient(url, { secret: () => discoverApiSecret(url, options).secret });
  }

  /** The headers that authenticate a request (for raw fetches and WebSockets next to this client). */
  authHeaders(): Record<string, string> {
    if (typeof this.#secret === "function") this.#secret = this.#secret();
    return this.#secret === undefined ? {} : { authorization: `Bearer ${this.#secret}` };
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

  /** Our move in an app channel (`data` as the app takes it, e.g. {cell: 4}); resolves once the peer signed it. */
  move(id: Hex, data: unknown): Promise<ApiChannel> {
    return this.call("POST", `/v1/channels/${id}/move`, { data });
  }

  close(id: Hex, force = false): Promise<{ ok: true }> {
    return this.call("POST", `/v1/channels/${id}/close`, force ? { force } : {});
  }

  dispute(id: Hex): Promise<{ ok: true }> {
    return this.call("POST", `/v1/channels/${id}/dispute`, {});
  }

  /**
   * authHeaders(), but when no secret is found and nothing listens at the URL either, the better
   * answer is that the node is not running: a TCP connect (no request, nothing sent) tells.
   */
  private async auth(): Promise<Record<string, string>> {
    try {
      return this.authHeaders();
    } catch (err) {
      if (
        err instanceof ApiSecretError &&
        err.code === "API_SECRET_UNAVAILABLE" &&
        !(await listening(this.url))
      )
        throw new ApiUnreachableError(this.url, err);
      throw err;
    }
  }

  private async call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<T> {
    const auth = await this.auth();
    let res: Response;
    try {
      res = await fetch(this.url + path, {
        method,
        headers: {
          ...auth,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
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

/** Whether something accepts TCP connections at the URL's host and port (within 2 s); sends nothing. */
export function listening(url: string): Promise<boolean> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const socket = connect({ host: u.hostname.replace(/^\[|\]$/g, ""), port: Number(u.port || 80) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2_000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
