/**
 * Authenticated handshake of a wire connection (design.md section 6): each side proves the address it
 * speaks for by signing fresh challenges of both sides. Pure functions: randomness and keys are
 * arguments, the transport (./ws-transport.ts) runs the steps and owns the socket.
 *
 *   server -> client  HELLO        sC                                   (sC: 32 random bytes)
 *   client -> server  CLIENT_AUTH  client, server, cC, sig_client       (cC: 32 random bytes)
 *   server -> client  SERVER_AUTH  server, sig_server
 *
 *   sig_role = sign(EIP-191(keccak256("perun-ts wire handshake v1 <role>" || sC || cC || client || server)))
 *
 * Why each part:
 * - Fresh challenges from both sides: a recorded signature is useless on another connection (replay).
 * - Both addresses signed, including the server the client means to reach: a server cannot relay a
 *   client's proof to a third node and pose as that client there (identity binding).
 * - The role in the domain string: a client signature can never be reflected as a server one.
 * - EIP-191 prefix: the digest can never be a channel state hash a wallet would also sign.
 *
 * This authenticates the endpoints, not the bytes that follow: against an active man in the middle
 * (who can only relay, never sign) run it over wss:// (TLS). Everything that moves funds is signed
 * by the channel participants anyway, so a relay can at worst drop or delay messages.
 *
 * Frames are fixed-size binary; the first byte tags the step (and the protocol version, v1) and can
 * never be the codec version byte of a message frame.
 */
import { keccak_256 } from "@noble/hashes/sha3";
import { checksumAddress } from "viem";
import { ethSignedDigest } from "../channel/hash.js";
import { bytesToHex, hexToBytes } from "../channel/hex.js";
import type { Signer } from "../channel/signer.js";
import { recoverDigest } from "../channel/signer.js";
import type { Address } from "../channel/types.js";
import { HandshakeError } from "./errors.js";

export const CHALLENGE_BYTES = 32;
export const HELLO_TAG = 0xf1;
export const CLIENT_AUTH_TAG = 0xf2;
export const SERVER_AUTH_TAG = 0xf3;
const HELLO_LEN = 1 + CHALLENGE_BYTES;
const CLIENT_AUTH_LEN = 1 + 20 + 20 + CHALLENGE_BYTES + 65;
const SERVER_AUTH_LEN = 1 + 20 + 65;

const CLIENT_DOMAIN = new TextEncoder().encode("perun-ts wire handshake v1 client");
const SERVER_DOMAIN = new TextEncoder().encode("perun-ts wire handshake v1 server");

/** What a verified CLIENT_AUTH tells the server. */
export interface ClientProof {
  /** The client's address, recovered from its signature (checksummed). */
  readonly client: Address;
  readonly clientChallenge: Uint8Array;
}

/** Step 1 (server): the HELLO frame carrying the server's fresh challenge. */
export function helloFrame(serverChallenge: Uint8Array): Uint8Array {
  checkChallenge(serverChallenge);
  const out = new Uint8Array(HELLO_LEN);
  out[0] = HELLO_TAG;
  out.set(serverChallenge, 1);
  return out;
}

/** Step 1 (client): the server's challenge from its HELLO frame. */
export function parseHello(frame: Uint8Array): Uint8Array {
  expectFrame(frame, HELLO_TAG, HELLO_LEN, "HELLO");
  return frame.slice(1);
}

/**
 * Step 2 (client): proves `signer`'s address to the server it means to reach (`server`), with its own
 * fresh challenge.
 */
export function clientAuthFrame(
  signer: Signer,
  server: Address,
  serverChallenge: Uint8Array,
  clientChallenge: Uint8Array,
): Uint8Array {
  checkChallenge(serverChallenge);
  checkChallenge(clientChallenge);
  const client = hexToBytes(signer.address, "client address", 20);
  const serverBytes = hexToBytes(server, "server address", 20);
  const sig = signer.signDigest(digest(CLIENT_DOMAIN, serverChallenge, clientChallenge, client, serverBytes));
  const out = new Uint8Array(CLIENT_AUTH_LEN);
  out[0] = CLIENT_AUTH_TAG;
  out.set(client, 1);
  out.set(serverBytes, 21);
  out.set(clientChallenge, 41);
  out.set(sig, 41 + CHALLENGE_BYTES);
  return out;
}

/**
 * Step 2 (server): checks a CLIENT_AUTH against our address and challenge; returns the proven
 * client address. Throws `HandshakeError` if it was meant for another server, signed by another key
 * than the claimed address, or over another challenge.
 */
export function verifyClientAuth(
  frame: Uint8Array,
  server: Address,
  serverChallenge: Uint8Array,
): ClientProof {
  expectFrame(frame, CLIENT_AUTH_TAG, CLIENT_AUTH_LEN, "CLIENT_AUTH");
  const client = frame.subarray(1, 21);
  const intended = frame.subarray(21, 41);
  const clientChallenge = frame.slice(41, 41 + CHALLENGE_BYTES);
  const sig = frame.subarray(41 + CHALLENGE_BYTES);
  const claimed = checksumAddress(bytesToHex(client) as Address);
  if (bytesToHex(intended) !== server.toLowerCase()) {
    throw new HandshakeError("the client addressed another server", {
      client: claimed,
      intended: checksumAddress(bytesToHex(intended) as Address),
      server,
    });
  }
  const signer = recover(
    digest(CLIENT_DOMAIN, serverChallenge, clientChallenge, client, intended),
    sig,
    "client",
  );
  if (signer !== claimed) {
    throw new HandshakeError("the client's signature is not from the address it claims", {
      claimed,
      recovered: signer,
    });
  }
  if (signer.toLowerCase() === server.toLowerCase()) {
    throw new HandshakeError("the client claims our own address", { client: signer });
  }
  return { client: signer, clientChallenge };
}

/** Step 3 (server): proves our address to the verified client, over both challenges. */
export function serverAuthFrame(
  signer: Signer,
  client: Address,
  serverChallenge: Uint8Array,
  clientChallenge: Uint8Array,
): Uint8Array {
  const server = hexToBytes(signer.address, "server address", 20);
  const sig = signer.signDigest(
    digest(SERVER_DOMAIN, serverChallenge, clientChallenge, hexToBytes(client, "client address", 20), server),
  );
  const out = new Uint8Array(SERVER_AUTH_LEN);
  out[0] = SERVER_AUTH_TAG;
  out.set(server, 1);
  out.set(sig, 21);
  return out;
}

/**
 * Step 3 (client): checks the server proved `expectedServer` (the address we meant to dial) over
 * both our challenges. Returns the server address (checksummed).
 */
export function verifyServerAuth(
  frame: Uint8Array,
  expectedServer: Address,
  client: Address,
  serverChallenge: Uint8Array,
  clientChallenge: Uint8Array,
): Address {
  expectFrame(frame, SERVER_AUTH_TAG, SERVER_AUTH_LEN, "SERVER_AUTH");
  const server = frame.subarray(1, 21);
  const claimed = checksumAddress(bytesToHex(server) as Address);
  if (claimed.toLowerCase() !== expectedServer.toLowerCase()) {
    throw new HandshakeError("the server is not the peer we dialed", { expected: expectedServer, claimed });
  }
  const d = digest(
    SERVER_DOMAIN,
    serverChallenge,
    clientChallenge,
    hexToBytes(client, "client address", 20),
    server,
  );
  const signer = recover(d, frame.subarray(21), "server");
  if (signer !== claimed) {
    throw new HandshakeError("the server's signature is not from the address it claims", {
      claimed,
      recovered: signer,
    });
  }
  return signer;
}

function digest(
  domain: Uint8Array,
  serverChallenge: Uint8Array,
  clientChallenge: Uint8Array,
  client: Uint8Array,
  server: Uint8Array,
): Uint8Array {
  const h = keccak_256.create();
  h.update(domain).update(serverChallenge).update(clientChallenge).update(client).update(server);
  return ethSignedDigest(h.digest());
}

function recover(d: Uint8Array, sig: Uint8Array, role: string): Address {
  try {
    return recoverDigest(d, sig);
  } catch (e) {
    throw new HandshakeError(`the ${role}'s signature is malformed`, {}, e);
  }
}

function expectFrame(frame: Uint8Array, tag: number, length: number, what: string): void {
  if (frame.length !== length || frame[0] !== tag) {
    throw new HandshakeError(`expected a ${what} frame`, {
      expected: `${length} bytes starting with 0x${tag.toString(16)}`,
      got: `${frame.length} bytes starting with 0x${(frame[0] ?? 0).toString(16)}`,
    });
  }
}

function checkChallenge(c: Uint8Array): void {
  if (!(c instanceof Uint8Array) || c.length !== CHALLENGE_BYTES) {
    throw new HandshakeError("a challenge must be 32 random bytes", { length: c?.length });
  }
}
