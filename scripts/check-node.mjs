#!/usr/bin/env node
// `preinstall`: stops `npm ci` / `npm install` on a Node.js older than the one Sluice needs, before
// the build, with the one command that fixes it. Without it an old Node gets as far as the build or
// the tests and fails there with a confusing error (e.g. @platformatic/kafka's
// `Promise.withResolvers is not a function` on Node 20).

const REQUIRED_MAJOR = 24;
const version = process.versions.node;

if (Number(version.split(".")[0]) < REQUIRED_MAJOR) {
  process.stderr.write(`
Sluice needs Node.js ${REQUIRED_MAJOR} or newer (package.json engines.node ">=${REQUIRED_MAJOR}");
this install runs on Node.js ${version} (${process.execPath}).
Put the pinned Node.js ${REQUIRED_MAJOR} first on PATH (fetched once from the npm registry into
.cache/node/), then run the same npm command again:

  eval "$(scripts/node.sh env)"

`);
  process.exit(1);
}
