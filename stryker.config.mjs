/**
 * Mutation testing of the core's rule files (src/channel/) and the client's pure decisions
 * (src/client/decisions.ts) against their own tests
 * (`npm run mutation`, about 15 minutes; not part of `npm test`). Static mutants (module-level
 * constants evaluated once) are ignored, and so are string literals (error messages): what counts is
 * whether a changed rule is caught.
 */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutation.config.ts" },
  mutate: [
    "src/channel/**/*.ts",
    "!src/channel/**/*.test.ts",
    "!src/channel/**/*.testutil.ts",
    "src/client/decisions.ts",
  ],
  ignoreStatic: true,
  mutator: { excludedMutations: ["StringLiteral"] },
  coverageAnalysis: "perTest",
  concurrency: 2,
  reporters: ["clear-text", "progress", "json"],
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
};
