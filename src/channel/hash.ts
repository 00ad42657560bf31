/**
 * Hashes that identify channels, states and deposits, as the contracts compute them:
 * - channel id = keccak256(abi.encode(params))            (perun-eth-contracts Adjudicator.channelID)
 * - state hash = keccak256(abi.encode(state))              (Channel.encodeState, signed via Sig.verify)
 * - funding id = keccak256(abi.encode(channelID, address)) (AssetHolder.calcFundingID)
 * - withdrawal auth hash = keccak256(abi.encode(auth))     (AssetHolder.withdraw)
 * - EIP-191 digest = keccak256("\x19Ethereum Signed Message:\n32" || hash) (Sig.verify, OZ ECDSA)
 */
import { encodeFundingId, encodeParams, encodeState, encodeWithdrawalAuth } from "./encoding.js";
import { InvalidFieldError } from "./errors.js";
import { bytesToHex } from "./hex.js";
import { keccak256 } from "./keccak.js";
import type { Address, Hex, Params, State, WithdrawalAuth } from "./types.js";

/** Channel id of `params`. */
export function channelId(params: Params): Hex {
  return bytesToHex(keccak256(encodeParams(params)));
}

/**
 * keccak256(abi.encode(state)) as 32 bytes (hot path: no hex round trip).
 *
 * keccak costs many times the encoding, and each update hashes the same state several times
 * (verify, then sign the proposal; sign, then verify the acceptance). So the last few hashes are
 * memoised, keyed by the encoded bytes themselves (never by object identity, so a mutated state
 * cannot hit a stale entry).
 */
export function hashStateBytes(state: State): Uint8Array {
  return memoKeccak(encodeState(state));
}

const MEMO_SIZE = 4;
const memoIn: Uint8Array[] = [];
const memoOut: Uint8Array[] = [];
let memoNext = 0;

function memoKeccak(data: Uint8Array): Uint8Array {
  for (let i = 0; i < memoIn.length; i++) {
    if (equalBytes(memoIn[i] as Uint8Array, data)) return (memoOut[i] as Uint8Array).slice();
  }
  const hash = keccak256(data);
  memoIn[memoNext] = data;
  memoOut[memoNext] = hash.slice();
  memoNext = (memoNext + 1) % MEMO_SIZE;
  return hash;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** keccak256(abi.encode(state)). */
export function hashState(state: State): Hex {
  return bytesToHex(hashStateBytes(state));
}

/** Funding id under which `participant`'s deposit for `channelID` is held by an AssetHolder. */
export function fundingId(channelID: Hex, participant: Address): Hex {
  return bytesToHex(keccak256(encodeFundingId(channelID, participant)));
}

/** keccak256(abi.encode(auth)) as 32 bytes. */
export function hashWithdrawalAuthBytes(auth: WithdrawalAuth): Uint8Array {
  return keccak256(encodeWithdrawalAuth(auth));
}

/** keccak256(abi.encode(auth)). */
export function hashWithdrawalAuth(auth: WithdrawalAuth): Hex {
  return bytesToHex(hashWithdrawalAuthBytes(auth));
}

const EIP191_PREFIX = new TextEncoder().encode("\x19Ethereum Signed Message:\n32");

/** EIP-191 "personal message" digest of a 32-byte hash: what the contracts' ECDSA.recover checks. */
export function ethSignedDigest(hash32: Uint8Array): Uint8Array {
  if (!(hash32 instanceof Uint8Array) || hash32.length !== 32) {
    throw new InvalidFieldError("hash", "32 bytes", hash32);
  }
  const buf = new Uint8Array(EIP191_PREFIX.length + 32);
  buf.set(EIP191_PREFIX, 0);
  buf.set(hash32, EIP191_PREFIX.length);
  return keccak256(buf);
}
