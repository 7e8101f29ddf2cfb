#!/usr/bin/env bash
# Builds the Java compatibility driver (test/compat/java/target/sluice-compat-java.jar plus
# target/lib/) with Maven, on the generated KServe V2 / Triton stubs of a published artifact.
# grpcurl (install-grpcurl.sh) and the deployment checks' tools (test/deploy/prepare.sh) are built
# beside it by scripts/prepare-tests.mjs, which `npm test` runs first.
# Idempotent, and fast when nothing changed: the jar is rebuilt only when pom.xml or the sources
# are newer than the last successful build. On success prints the jar's path as a KEY=VALUE line
# on stdout; progress goes to stderr.
# Dependencies come from, and are cached in, the usual per-user Maven and Go caches.
set -euo pipefail

# The stubs are class-file version 61; the driver uses Java 17 language features.
JAVA_MIN_MAJOR=17

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
java_dir="$here/java"
jar="$java_dir/target/sluice-compat-java.jar"
# Written only after a complete `mvn package`, so an interrupted build is not taken as current.
stamp="$java_dir/target/.prepared"

die() {
  echo "prepare-compat: $*" >&2
  exit 1
}

command -v java >/dev/null 2>&1 || die "java is not on PATH: the compat driver needs a JDK >= $JAVA_MIN_MAJOR"
command -v mvn >/dev/null 2>&1 || die "mvn is not on PATH: the compat driver is built with Maven"

# `java -version` prints e.g. 'openjdk version "17.0.15" 2025-04-15' (or "1.8.0_x" for Java 8).
java_version="$(java -version 2>&1 | awk -F'"' '/version/ { print $2; exit }')"
java_major="${java_version%%.*}"
[[ "$java_major" == "1" ]] && java_major="$(echo "$java_version" | cut -d. -f2)"
[[ "$java_major" =~ ^[0-9]+$ ]] || die "could not read the Java version from 'java -version' (got '$java_version')"
((java_major >= JAVA_MIN_MAJOR)) || die "the compat driver needs Java >= $JAVA_MIN_MAJOR, found $java_version"

if [[ -f "$stamp" && -f "$jar" && -z "$(find "$java_dir/pom.xml" "$java_dir/src" -newer "$stamp" -print -quit)" ]]; then
  echo "prepare-compat: Java driver is up to date" >&2
else
  echo "prepare-compat: building the Java driver with Maven" >&2
  rm -f "$stamp"
  # -B: no colour codes or progress bars in CI logs; -q: only errors, which Maven prints in full.
  mvn -B -q -Dstyle.color=never -f "$java_dir/pom.xml" package >&2 ||
    die "building the Java driver failed: see the Maven errors above (run 'mvn -f $java_dir/pom.xml package' for full output)"
  [[ -f "$jar" ]] || die "Maven succeeded but $jar is missing"
  touch "$stamp"
fi

echo "SLUICE_COMPAT_JAVA_JAR=$jar"
