import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { HandshakeError } from "./errors.js";
import { signers } from "./fixtures.testutil.js";
import {
  CHALLENGE_BYTES,
  clientAuthFrame,
  helloFrame,
  parseHello,
  serverAuthFrame,
  verifyClientAuth,
  verifyServerAuth,
} from "./handshake.js";

const { alice, bob, carol, mallory } = signers();
const challenge = (): Uint8Array => randomBytes(CHALLENGE_BYTES);

function reason(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(HandshakeError);
    expect((e as HandshakeError).code).toBe("HANDSHAKE_FAILED");
    return (e as HandshakeError).reason;
  }
  throw new Error("expected a HandshakeError");
}

describe("handshake", () => {
  it("proves both addresses (alice dials bob)", () => {
    const sC = challenge();
    const cC = challenge();
    const auth = clientAuthFrame(alice, bob.address, parseHello(helloFrame(sC)), cC);
    const proof = verifyClientAuth(auth, bob.address, sC);
    expect(proof.client).toBe(alice.address);
    const reply = serverAuthFrame(bob, proof.client, sC, proof.clientChallenge);
    expect(verifyServerAuth(reply, bob.address, alice.address, sC, cC)).toBe(bob.address);
  });

  it("rejects a replayed client proof (other server challenge)", () => {
    const auth = clientAuthFrame(alice, bob.address, challenge(), challenge());
    expect(reason(() => verifyClientAuth(auth, bob.address, challenge()))).toMatch(
      /not from the address it claims/,
    );
  });

  it("rejects a client proof meant for another server (no relaying to a third node)", () => {
    const sC = challenge();
    const auth = clientAuthFrame(alice, mallory.address, sC, challenge());
    expect(reason(() => verifyClientAuth(auth, bob.address, sC))).toMatch(/another server/);
  });

  it("rejects a client claiming another address than its key", () => {
    const sC = challenge();
    const auth = clientAuthFrame(mallory, bob.address, sC, challenge());
    auth.set(Buffer.from(alice.address.slice(2), "hex"), 1); // claim alice, signed by mallory
    expect(reason(() => verifyClientAuth(auth, bob.address, sC))).toMatch(/not from the address it claims/);
  });

  it("rejects a server that is not the peer we dialed, or signs for another", () => {
    const sC = challenge();
    const cC = challenge();
    const fromCarol = serverAuthFrame(carol, alice.address, sC, cC);
    expect(reason(() => verifyServerAuth(fromCarol, bob.address, alice.address, sC, cC))).toMatch(
      /not the peer/,
    );
    const forged = serverAuthFrame(mallory, alice.address, sC, cC);
    forged.set(Buffer.from(bob.address.slice(2), "hex"), 1);
    expect(reason(() => verifyServerAuth(forged, bob.address, alice.address, sC, cC))).toMatch(/not from/);
    const stale = serverAuthFrame(bob, alice.address, sC, challenge());
    expect(reason(() => verifyServerAuth(stale, bob.address, alice.address, sC, cC))).toMatch(/not from/);
  });

  it("does not accept a client signature reflected as the server's", () => {
    const sC = challenge();
    const cC = challenge();
    // Bob (as client to alice) signs over (sC, cC, bob, alice); replaying it as alice's server proof fails.
    const bobAsClient = clientAuthFrame(bob, alice.address, sC, cC);
    const reflected = new Uint8Array(86);
    reflected[0] = 0xf3;
    reflected.set(bobAsClient.subarray(1, 21), 1);
    reflected.set(bobAsClient.subarray(73), 21);
    expect(reason(() => verifyServerAuth(reflected, bob.address, alice.address, sC, cC))).toMatch(/not from/);
  });

  it("rejects frames of the wrong kind or length, and malformed signatures", () => {
    expect(reason(() => parseHello(new Uint8Array(10)))).toMatch(/HELLO/);
    expect(reason(() => verifyClientAuth(helloFrame(challenge()), bob.address, challenge()))).toMatch(
      /CLIENT_AUTH/,
    );
    const sC = challenge();
    const auth = clientAuthFrame(alice, bob.address, sC, challenge());
    auth[auth.length - 1] = 29; // v not 27/28
    expect(reason(() => verifyClientAuth(auth, bob.address, sC))).toMatch(/malformed/);
    expect(reason(() => helloFrame(new Uint8Array(31)))).toMatch(/32 random bytes/);
  });
});
