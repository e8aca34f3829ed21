#!/usr/bin/env bash
# Prepares target/gpu-bundle/ on a development machine, for a GPU machine that has no JDK, no Maven and no
# network: a trimmed Java runtime (jlink), fusedopt.jar, the compiled tests and the JUnit console launcher.
# Carry target/gpu-bundle (about 50 MB) to the GPU machine with the repository and run native-build/gpu-check.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
B=target/gpu-bundle
JUNIT_PLATFORM=1.14.4

[ -f target/fusedopt.jar ] && [ -d target/test-classes ] || mvn -B -q package -DskipTests
rm -rf "$B"
mkdir -p "$B/lib"
cp target/fusedopt.jar "$B/"
cp -r target/test-classes "$B/test-classes"
mvn -B -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:$JUNIT_PLATFORM \
    -DoutputDirectory="$B/lib" -Dmdep.stripVersion=true
mvn -B -q dependency:copy-dependencies -DincludeScope=test -DincludeGroupIds=net.jqwik,org.opentest4j,com.fasterxml.jackson.core \
    -DoutputDirectory="$B/lib" || true
jlink --add-modules java.base,java.logging,java.management,java.sql,jdk.unsupported,jdk.zipfs \
    --strip-debug --no-header-files --no-man-pages --compress=2 --output "$B/jre"
du -sh "$B"
