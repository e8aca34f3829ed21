#!/usr/bin/env bash
# Prepares target/gpu-bundle/ on a development machine, for a GPU machine that has no JDK, no Maven and no
# network: a trimmed Java runtime (jlink), a freshly built fusedopt.jar, the compiled tests, the JUnit console
# launcher with the jqwik engine, and expected-tests.txt: how many tests native-build/gpu-check.sh must see
# succeed, counted by running its two test selections here on the CPU stand-in for the driver.
# Carry target/gpu-bundle (about 50 MB) to the GPU machine with the repository and run native-build/gpu-check.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
B=target/gpu-bundle
JUNIT_PLATFORM=1.14.4

# Always rebuild: a stale jar would test yesterday's code.
mvn -B -q package -DskipTests
bash native-build/emu/build.sh > /dev/null
rm -rf "$B"
mkdir -p "$B/lib"
cp target/fusedopt.jar "$B/"
cp -r target/test-classes "$B/test-classes"
mvn -B -q dependency:copy -Dartifact=org.junit.platform:junit-platform-console-standalone:$JUNIT_PLATFORM \
    -DoutputDirectory="$B/lib" -Dmdep.stripVersion=true
mvn -B -q dependency:copy-dependencies -DincludeScope=test -DincludeGroupIds=net.jqwik,org.opentest4j,com.fasterxml.jackson.core \
    -DoutputDirectory="$B/lib"
ls "$B"/lib/jqwik-engine-*.jar > /dev/null || { echo "make-gpu-bundle.sh: jqwik's engine was not copied" >&2; exit 1; }
jlink --add-modules java.base,java.logging,java.management,java.sql,jdk.unsupported,jdk.zipfs \
    --strip-debug --no-header-files --no-man-pages --compress=2 --output "$B/jre"

# The expected test count: the same selections gpu-check.sh runs, on the stand-in.
CP="$B/fusedopt.jar:$B/test-classes"
for j in "$B"/lib/*.jar; do
    case "$j" in *junit-platform-console-standalone.jar) ;; *) CP="$CP:$j" ;; esac
done
count() {
    LD_LIBRARY_PATH="$PWD/target/cuda-emu" FUSEDOPT_EMU_QUIET=1 "$B/jre/bin/java" "$@" \
        | sed -n 's/^\[ *\([0-9]*\) tests successful *\]$/\1/p' | tail -n 1
}
device=$(count -Dfusedopt.device=cuda -cp "$CP:$B/lib/junit-platform-console-standalone.jar" \
    org.junit.platform.console.ConsoleLauncher execute \
    --select-package io.fusedopt --include-tag device --exclude-tag cuda-emu --fail-if-no-tests \
    --details=summary --disable-banner) \
    || { echo "make-gpu-bundle.sh: a device test failed on the stand-in (run the selection by hand to see it)" >&2; exit 1; }
ptx=$(count -cp "$CP:$B/lib/junit-platform-console-standalone.jar" \
    org.junit.platform.console.ConsoleLauncher execute \
    --select-class io.fusedopt.cuda.PtxSignatureTest --fail-if-no-tests --details=summary --disable-banner) \
    || { echo "make-gpu-bundle.sh: PtxSignatureTest failed on the stand-in" >&2; exit 1; }
[[ -n "$device" && -n "$ptx" && "$device" -gt 0 && "$ptx" -gt 0 ]] \
    || { echo "make-gpu-bundle.sh: the test selections did not all pass on the stand-in" >&2; exit 1; }
echo $((device + ptx)) > "$B/expected-tests.txt"
echo "expected tests: $device device + $ptx PTX signature = $((device + ptx))"
du -sh "$B"
