import { defineConfig } from "vitest/config";

/** The core's own tests (and those of the client's pure decisions) only: what `npm run mutation` measures the rule files against. */
export default defineConfig({
  test: {
    include: ["src/channel/**/*.test.ts", "src/client/decisions.test.ts"],
    testTimeout: 60_000,
  },
});
