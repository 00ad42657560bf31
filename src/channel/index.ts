/**
 * perun-ts channel core: types, ABI encoding, hashing, signatures, validation, allocation rules, the
 * channel machine and payments (design.md sections 3 and 4). Pure: nothing here does I/O.
 */
export * from "./abi.js";
export * from "./allocation.js";
export * from "./app.js";
export * from "./encoding.js";
export * from "./errors.js";
export * from "./fees.js";
export * from "./hash.js";
export { bytesToHex, hexToBytes, isHex } from "./hex.js";
export * from "./machine.js";
export * from "./path.js";
export * from "./pathfinding.js";
export * from "./payment.js";
export * from "./sig.js";
export * from "./signer.js";
export * from "./tictactoe.js";
export * from "./transition.js";
export * from "./types.js";
export * from "./validation.js";
export * from "./virtual.js";
export * from "./virtualErrors.js";
