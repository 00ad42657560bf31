import { defineConfig } from "vitest/config";

/** The core's own tests only: what `npm run mutation` measures the rule files against. */
export default defineConfig({
  test: {
    include: ["src/channel/**/*.test.ts"],
    testTimeout: 60_000,
  },
});
