/**
 * perun-ts wire layer (design.md section 6): messages, their versioned codec, the authenticated
 * handshake and the Transport port with its WebSocket and in-process implementations.
 */
export * from "./codec.js";
export * from "./errors.js";
export * from "./handshake.js";
export * from "./log.js";
export * from "./memory-transport.js";
export type * from "./messages.js";
export type * from "./transport.js";
export * from "./ws-transport.js";
