#!/usr/bin/env bash
# The one check to run on a machine with an NVIDIA GPU (driver of the CUDA 13 generation, 580 or newer):
# a preflight (the Java runtime starts here, libcuda.so.1 exports every symbol JCuda calls), info (which must
# report the fatbin image), verify --backend cuda --compare cpu, the device test classes on CUDA with an expected
# test count, a real step on a tensor of 2^31 + 5 elements, the throughput benchmark, and, where PyTorch is
# importable, torch.optim.AdamW(fused=True) on the same sizes.
#
# What must be present: this repository (native-build/ at least) and target/gpu-bundle/ from
# native-build/make-gpu-bundle.sh (Java runtime, jar, tests, JUnit launcher, expected-tests.txt). No Maven and
# no network are needed. Every step has a timeout; the whole run takes under 5 minutes on a GPU (under the CPU
# stand-in, --quick takes about ten, the device tests interpreting every kernel). The log goes
# to $OUT/gpu-check-report.txt, and one JSON object per figure or step result to $OUT/gpu-check.jsonl (or
# target/gpu-check/).
#
# Usage: native-build/gpu-check.sh [--quick]
#   --quick: small sizes and no PyTorch comparison; the only form that accepts the CPU stand-in for the driver
#            (LD_LIBRARY_PATH=target/cuda-emu), to try the script itself end to end.
# Exit status 0 only when every step passed and the device tests ran exactly the expected number of tests.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
B=${FUSEDOPT_BUNDLE:-target/gpu-bundle}
DIR=${OUT:-target/gpu-check}
mkdir -p "$DIR"
REPORT=$DIR/gpu-check-report.txt
JSONL=$DIR/gpu-check.jsonl
: > "$REPORT"
: > "$JSONL"
QUICK=0
for a in "$@"; do
    case "$a" in
        --quick) QUICK=1 ;;
        *) echo "usage: $0 [--quick]" >&2; exit 2 ;;
    esac
done
PARAMS=268435456; HUGE=$(( (1 << 31) + 5 ))
[ $QUICK = 1 ] && { PARAMS=1000003; HUGE=70001; }
status=0
failed=()

say() { echo "$*" | tee -a "$REPORT"; }
section() { echo | tee -a "$REPORT"; say "== $*"; }
json() { echo "$1" >> "$JSONL"; }
fail() { say "gpu-check: $1: $2"; json "{\"step\": \"$1\", \"ok\": false, \"why\": \"$2\"}"; status=1; failed+=("$1"); }
# step NAME SECONDS command...: runs under a timeout, logs its output, records the result.
step() {
    local name=$1 limit=$2; shift 2
    local t0=$SECONDS
    timeout --kill-after=10 "$limit" "$@" > "$DIR/$name.out" 2>&1
    local rc=$?
    cat "$DIR/$name.out" >> "$REPORT"
    tail -n 40 "$DIR/$name.out"
    local took=$((SECONDS - t0))
    say "-- $name: exit $rc, $took s"
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        fail "$name" "timed out after $limit s"
    elif [ "$rc" != 0 ]; then
        fail "$name" "exit $rc"
    else
        json "{\"step\": \"$name\", \"ok\": true, \"seconds\": $took}"
    fi
    return "$rc"
}

# ---- preflight ---------------------------------------------------------------------------------------------
section "preflight"
[ -d "$B" ] || { fail bundle "$B missing: run native-build/make-gpu-bundle.sh on a development machine"; exit 1; }
JAVA=${JAVA:-$B/jre/bin/java}
JAR=$B/fusedopt.jar
TESTS=$B/test-classes
for f in "$JAR" "$TESTS" "$B/lib/junit-platform-console-standalone.jar" "$B/expected-tests.txt"; do
    [ -e "$f" ] || fail bundle "$f missing: rebuild the bundle with native-build/make-gpu-bundle.sh"
done
# The console launcher does not expand "lib/*": name every jar (jqwik's engine among them).
CP="$JAR:$TESTS"
for j in "$B"/lib/*.jar; do
    case "$j" in *junit-platform-console-standalone.jar) ;; *) CP="$CP:$j" ;; esac
done
GLIBC=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print $2 }')
if [ -z "$GLIBC" ] || [ "$(printf '%s\n2.34\n' "$GLIBC" | sort -V | head -n 1)" != "2.34" ]; then
    fail glibc "glibc ${GLIBC:-unknown} is older than 2.34, which the bundled Java runtime needs"
else
    say "glibc $GLIBC"
fi
if ! ldconfig -p 2>/dev/null | grep -q 'libz\.so\.1 ' && ! ls /lib/x86_64-linux-gnu/libz.so.1 /usr/lib64/libz.so.1 >/dev/null 2>&1; then
    fail libz "libz.so.1 not found (the Java runtime needs zlib)"
fi
step java 30 "$JAVA" -version
# libcuda.so.1 as the process will find it: LD_LIBRARY_PATH first, then the linker cache.
LIBCUDA=""
IFS=: read -r -a dirs <<< "${LD_LIBRARY_PATH:-}"
for d in "${dirs[@]}"; do [ -n "$d" ] && [ -e "$d/libcuda.so.1" ] && { LIBCUDA="$d/libcuda.so.1"; break; }; done
[ -n "$LIBCUDA" ] || LIBCUDA=$(ldconfig -p 2>/dev/null | awk '$1 == "libcuda.so.1" { print $NF; exit }')
IMPORTS=native-build/emu/jcuda-driver-imports.txt
if [ -z "$LIBCUDA" ]; then
    fail libcuda "libcuda.so.1 not found: no NVIDIA driver"
elif ! command -v nm >/dev/null 2>&1; then
    fail libcuda "nm (binutils) is needed to check $LIBCUDA"
else
    missing=$(comm -23 <(sort -u "$IMPORTS") <(nm -D --defined-only "$LIBCUDA" | awk '{ sub(/@.*/, "", $3); print $3 }' | sort -u))
    if [ -n "$missing" ]; then
        fail libcuda "$LIBCUDA lacks $(echo "$missing" | wc -l) symbols JCuda calls: $(echo $missing | cut -c1-200)"
    else
        say "$LIBCUDA exports all $(wc -l < "$IMPORTS") driver symbols JCuda imports"
    fi
fi
if [ $status != 0 ]; then section "summary"; say "gpu-check: FAILED in preflight: ${failed[*]}"; exit 1; fi

# ---- the device ----------------------------------------------------------------------------------------------
section "info"
step info 60 "$JAVA" -jar "$JAR" info
STAND_IN=0
grep -q "^cuda: available — .*stand-in" "$DIR/info.out" && STAND_IN=1
if ! grep -q "^cuda: available — .*kernels from fatbin$" "$DIR/info.out"; then
    fail info "info does not report the fatbin image loaded (see above)"
fi
if [ $STAND_IN = 1 ] && [ $QUICK = 0 ]; then
    fail info "the CUDA driver is the CPU stand-in: run with --quick to try the script, on a GPU without it"
    section "summary"; say "gpu-check: FAILED: ${failed[*]}"; exit 1
fi
section "machine"
if [ $STAND_IN = 0 ]; then
    step nvidia-smi 30 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.limit --format=csv
    # The clocks at the time of the figures, for the record.
    nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem --format=csv,noheader,nounits 2>/dev/null \
        | awk -F', *' '{ printf "{\"figure\": \"gpu_clocks_mhz\", \"sm\": %s, \"sm_max\": %s, \"mem\": %s, \"mem_max\": %s}\n", $1, $2, $3, $4 }' >> "$JSONL"
else
    say "CPU stand-in: no nvidia-smi, no clocks"
fi

section "verify --backend cuda --compare cpu"
step verify 120 "$JAVA" -jar "$JAR" verify --backend cuda --compare cpu

section "device tests on CUDA"
EXPECTED=$(tr -dc '0-9' < "$B/expected-tests.txt" 2>/dev/null)
# Two selections: a tag filter applies to explicitly selected classes too, and PtxSignatureTest is not a device test.
# On the CPU stand-in (--quick) the device tests interpret every kernel: minutes, not seconds.
TEST_LIMIT=240; [ $STAND_IN = 1 ] && TEST_LIMIT=900
step tests-device $TEST_LIMIT "$JAVA" -Dfusedopt.device=cuda -cp "$CP:$B/lib/junit-platform-console-standalone.jar" \
    org.junit.platform.console.ConsoleLauncher execute --select-package io.fusedopt --include-tag device --exclude-tag cuda-emu \
    --fail-if-no-tests --details=summary --disable-banner
step tests-ptx 60 "$JAVA" -cp "$CP:$B/lib/junit-platform-console-standalone.jar" \
    org.junit.platform.console.ConsoleLauncher execute --select-class io.fusedopt.cuda.PtxSignatureTest --fail-if-no-tests --details=summary --disable-banner
ran=0
for f in "$DIR/tests-device.out" "$DIR/tests-ptx.out"; do
    n=$(sed -n 's/^\[ *\([0-9]*\) tests successful *\]$/\1/p' "$f" | tail -n 1)
    ran=$((ran + ${n:-0}))
done
json "{\"figure\": \"device_tests_successful\", \"value\": $ran, \"expected\": ${EXPECTED:-null}}"
if [ -z "$EXPECTED" ] || [ "$ran" != "$EXPECTED" ]; then
    fail tests "$ran tests succeeded, the bundle expects ${EXPECTED:-an unknown number}"
else
    say "$ran tests succeeded, as expected"
fi

section "one step on a tensor of $HUGE elements"
step huge 180 "$JAVA" -cp "$CP" io.fusedopt.gpu.HugeTensorCheck cuda "$HUGE"

section "bench"
BENCH=$DIR/bench.jsonl
if step bench-params 120 "$JAVA" -jar "$JAR" bench --backend cuda --optimizer adamw --params "$PARAMS" --json; then
    grep '^{' "$DIR/bench-params.out" | tee "$BENCH" | sed 's/^{/{"figure": "fusedopt_step_wall", /' >> "$JSONL"
fi
if [ $QUICK = 0 ] && step bench-gpt2 120 "$JAVA" -jar "$JAR" bench --backend cuda --optimizer adamw --model gpt2-small --json; then
    grep '^{' "$DIR/bench-gpt2.out" | tee -a "$BENCH" | sed 's/^{/{"figure": "fusedopt_step_wall", /' >> "$JSONL"
fi
# The training loop on GPT-2 small's 148 tensors: clipping, loss scaling and SKIP, eager and replayed as a graph;
# host_ms_per_step is the host time of a step() call (issuing only), back_to_back_ms the device time per step.
for mode in eager graph; do
    extra=(); [ $mode = graph ] && extra=(--graph)
    if [ $QUICK = 0 ] && step "bench-gpt2-loop-$mode" 120 "$JAVA" -jar "$JAR" bench --backend cuda --optimizer adamw \
            --model gpt2-small --training-loop ${extra[@]+"${extra[@]}"} --json; then
        grep '^{' "$DIR/bench-gpt2-loop-$mode.out" \
            | sed "s/^{/{\"figure\": \"fusedopt_loop_step_$mode\", /" >> "$JSONL"
    fi
done

# Mixed precision: AdamW with bf16 parameters and gradients, fp32 master weights and states (28 B/param) and the
# low-precision regime (14 B/param); each line carries its own bytes per parameter and copy-bandwidth fraction.
for regime in master lp; do
    extra=(--dtype bf16); [ $regime = master ] && extra+=(--master)
    if [ $QUICK = 0 ] && step "bench-bf16-$regime" 120 "$JAVA" -jar "$JAR" bench --backend cuda --optimizer adamw \
            --params "$PARAMS" "${extra[@]}" --json; then
        grep '^{' "$DIR/bench-bf16-$regime.out" | sed "s/^{/{\"figure\": \"fusedopt_bf16_${regime}_step\", /" >> "$JSONL"
    fi
done
# The newer rules on GPT-2 small's tensors (Muon's Newton-Schulz products and Adafactor's statistics are not
# bandwidth-bound: their figures are their own).
for opt in lion adan lars schedule_free_adamw adafactor muon; do
    if [ $QUICK = 0 ] && step "bench-gpt2-$opt" 120 "$JAVA" -jar "$JAR" bench --backend cuda --optimizer "$opt" \
            --model gpt2-small --json; then
        grep '^{' "$DIR/bench-gpt2-$opt.out" | sed "s/^{/{\"figure\": \"fusedopt_step_$opt\", /" >> "$JSONL"
    fi
done

section "PyTorch fused AdamW on the same sizes"
if [ $QUICK = 0 ] && python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    if step torch 240 python3 native-build/torch_adamw_bench.py --params "$PARAMS" --gpt2-small --training-loop; then
        grep '^{' "$DIR/torch.out" >> "$JSONL"
    fi
    if step torch-bf16 120 python3 native-build/torch_adamw_bench.py --params "$PARAMS" --dtype bf16; then
        grep '^{' "$DIR/torch-bf16.out" >> "$JSONL"
    fi
else
    say "no comparison: $([ $QUICK = 1 ] && echo "--quick" || echo "PyTorch with CUDA is not importable here")"
fi

# Both sides timed the same way: K back-to-back steps between CUDA events on one stream (fusedopt's
# back_to_back_ms, torch's kernel_ms per step); one ratio line per size that both measured.
if [ -s "$BENCH" ] && grep -q '"torch_adamw_fused_step"' "$JSONL" 2>/dev/null; then
    python3 - "$BENCH" "$JSONL" <<'PY' >> "$JSONL" || true
import json, sys
ours = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
theirs = [json.loads(l) for l in open(sys.argv[2])
          if l.startswith("{") and '"torch_adamw_fused_step"' in l]
for o in ours:
    for t in theirs:
        if t.get("params") == o.get("params") and o.get("back_to_back_ms"):
            print(json.dumps({"figure": "fusedopt_vs_torch_events", "params": o["params"],
                              "fusedopt_ms": o["back_to_back_ms"], "torch_ms": t["kernel_ms_per_step"],
                              "speedup": t["kernel_ms_per_step"] / o["back_to_back_ms"]}))
PY
fi

section "summary"
if [ $status = 0 ]; then
    say "gpu-check: all steps passed"
else
    say "gpu-check: FAILED: ${failed[*]}"
fi
exit $status
