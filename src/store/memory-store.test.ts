/** The in-memory store passes the shared Store suite. */
import { createMemoryStore } from "./memory-store.js";
import { storeSuite } from "./store.suite.js";

storeSuite("memory", () => createMemoryStore());
