import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidFieldError } from "./errors.js";
import type { RentalTerms } from "./fees.js";
import { FEE_RATE_UNIT, isExpired, RentalDurationExceededError, rentalExpiry, rentalFee } from "./fees.js";

const terms: RentalTerms = { baseFee: 10n, ratePerSecondPerUnit: 1000n, maxDurationSeconds: 86_400n };
const E = 10n ** 18n;

describe("rentalFee", () => {
  it("is base + rate x collateral x seconds / 1e18", () => {
    expect(rentalFee(terms, 2n * E, 60n)).toBe(10n + 1000n * 2n * 60n);
    expect(rentalFee(terms, 0n, 60n)).toBe(10n);
    expect(rentalFee(terms, 2n * E, 0n)).toBe(10n);
  });

  it("rounds up", () => {
    expect(rentalFee(terms, 1n, 1n)).toBe(11n); // 1000 / 1e18 -> 1
    expect(rentalFee({ ...terms, ratePerSecondPerUnit: 0n }, E, 100n)).toBe(10n);
    expect(rentalFee({ ...terms, baseFee: 0n, ratePerSecondPerUnit: 1n }, E, 1n)).toBe(1n);
    expect(rentalFee({ ...terms, baseFee: 0n, ratePerSecondPerUnit: 1n }, E + 1n, 1n)).toBe(2n);
  });

  it("allows exactly the maximum duration, not more", () => {
    expect(() => rentalFee(terms, E, 86_400n)).not.toThrow();
    expect(() => rentalFee(terms, E, 86_401n)).toThrow(RentalDurationExceededError);
    expect(() => rentalFee(terms, E, 86_401n)).toThrow(/86401 s exceeds the maximum of 86400 s/);
  });

  it.each([
    ["negative collateral", () => rentalFee(terms, -1n, 1n)],
    ["negative seconds", () => rentalFee(terms, 1n, -1n)],
    ["negative base fee", () => rentalFee({ ...terms, baseFee: -1n }, 1n, 1n)],
    ["a number rate", () => rentalFee({ ...terms, ratePerSecondPerUnit: 1 as unknown as bigint }, 1n, 1n)],
  ])("rejects %s", (_n, f) => {
    expect(f).toThrow(InvalidFieldError);
  });

  it("is the least amount covering the exact rent (property)", () => {
    const big = fc.bigInt({ min: 0n, max: 10n ** 24n });
    fc.assert(
      fc.property(
        big,
        fc.bigInt({ min: 0n, max: 10n ** 12n }),
        big,
        fc.bigInt({ min: 0n, max: 10n ** 7n }),
        (base, rate, c, s) => {
          const fee = rentalFee(
            { baseFee: base, ratePerSecondPerUnit: rate, maxDurationSeconds: 10n ** 7n },
            c,
            s,
          );
          const exact = rate * c * s;
          expect((fee - base) * FEE_RATE_UNIT >= exact).toBe(true);
          expect((fee - base - 1n) * FEE_RATE_UNIT < exact).toBe(true);
          expect(fee >= base).toBe(true);
        },
      ),
    );
  });
});

describe("expiry", () => {
  it("expires strictly after start + seconds", () => {
    const exp = rentalExpiry(1_000n, 60n);
    expect(exp).toBe(1_060n);
    expect(isExpired(exp, 1_060n)).toBe(false);
    expect(isExpired(exp, 1_061n)).toBe(true);
    expect(() => rentalExpiry(-1n, 1n)).toThrow(InvalidFieldError);
  });
});
