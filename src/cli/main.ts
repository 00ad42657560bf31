#!/usr/bin/env node
/** Entry point of the `perun` binary; the commands live in ./run.ts. */
import { main } from "./run.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`perun: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
