#!/usr/bin/env bash
# The one check to run on a machine with an NVIDIA GPU (driver of the CUDA 13 generation, 580 or newer):
#   info, verify --backend cuda --compare cpu, the device test classes on CUDA, a real step on a tensor of
#   2^31 + 5 elements, the throughput benchmark (AdamW on 256M parameters and on GPT-2 small), and, where
#   PyTorch is importable, torch.optim.AdamW(fused=True) on the same sizes with the ratio of step times.
#
# What must be present: this repository (native-build/ at least) and either
#   - target/gpu-bundle/ from native-build/make-gpu-bundle.sh (Java runtime, jar, tests, JUnit launcher), or
#   - a Java 17+ `java` on the PATH, target/fusedopt.jar, target/test-classes and the JUnit console jar in
#     target/gpu-bundle/lib/junit-platform-console-standalone.jar.
# No Maven and no network are needed. The report goes to $OUT/gpu-check-report.txt (or target/gpu-check/).
#
# Usage: native-build/gpu-check.sh [--quick]   (--quick: small sizes, to try the script under the CPU stand-in)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
B=${FUSEDOPT_BUNDLE:-target/gpu-bundle}
JAVA=${JAVA:-}
if [ -z "$JAVA" ]; then
    if [ -x "$B/jre/bin/java" ]; then JAVA="$B/jre/bin/java"; else JAVA=java; fi
fi
JAR=$B/fusedopt.jar; [ -f "$JAR" ] || JAR=target/fusedopt.jar
TESTS=$B/test-classes; [ -d "$TESTS" ] || TESTS=target/test-classes
DIR=${OUT:-target/gpu-check}
mkdir -p "$DIR"
REPORT=$DIR/gpu-check-report.txt
: > "$REPORT"
QUICK=0; [ "${1:-}" = "--quick" ] && QUICK=1
PARAMS=268435456; HUGE=$(( (1 << 31) + 5 ))
[ $QUICK = 1 ] && { PARAMS=1000003; HUGE=70001; }
CP="$JAR:$TESTS:$B/lib/*"
status=0
failed=()

section() { echo; echo "== $*" | tee -a "$REPORT"; }
step() {   # step NAME command...: runs, appends its output to the report, records a failure
    local name=$1; shift
    local t0=$SECONDS
    "$@" 2>&1 | tee -a "$REPORT"
    local rc=${PIPESTATUS[0]}
    echo "-- $name: exit $rc, $((SECONDS - t0)) s" | tee -a "$REPORT"
    if [ "$rc" != 0 ]; then status=1; failed+=("$name"); fi
}

section "machine"
step nvidia-smi nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
step java "$JAVA" -version
section "info"
step info "$JAVA" -jar "$JAR" info
section "verify --backend cuda --compare cpu"
step verify "$JAVA" -jar "$JAR" verify --backend cuda --compare cpu
section "device tests on CUDA"
step tests "$JAVA" -Dfusedopt.device=cuda -jar "$B/lib/junit-platform-console-standalone.jar" execute \
    -cp "$CP" --select-package io.fusedopt --include-tag device --exclude-tag cuda-emu \
    --select-class io.fusedopt.cuda.PtxSignatureTest --details=summary --disable-banner
section "one step on a tensor of $HUGE elements"
step huge "$JAVA" -cp "$CP" io.fusedopt.gpu.HugeTensorCheck cuda "$HUGE"
section "bench"
BENCH=$DIR/bench.jsonl
: > "$BENCH"
step bench-params bash -c "'$JAVA' -jar '$JAR' bench --backend cuda --optimizer adamw --params $PARAMS --json | tee -a '$BENCH'"
[ $QUICK = 1 ] || step bench-gpt2 bash -c "'$JAVA' -jar '$JAR' bench --backend cuda --optimizer adamw --model gpt2-small --json | tee -a '$BENCH'"
section "PyTorch fused AdamW on the same sizes"
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
    TORCH=$DIR/torch.jsonl
    GPT=--gpt2-small; [ $QUICK = 1 ] && GPT=
    step torch bash -c "python3 native-build/torch_adamw_bench.py --params $PARAMS $GPT | tee '$TORCH'"
    step ratio python3 - "$BENCH" "$TORCH" <<'PY'
import json, sys
ours = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
theirs = [json.loads(l) for l in open(sys.argv[2]) if l.strip().startswith("{")]
for t in theirs:
    match = [o for o in ours if o["params"] == t["params"] and o["tensors"] == t["tensors"]]
    if not match:
        print(f"no fusedopt figure for {t['config']}")
        continue
    o = match[0]
    print(f"{t['config']}: fusedopt {o['step_ms_median']:.3f} ms ({o['gbps']:.0f} GB/s, "
          f"{100 * o['fraction_of_bandwidth']:.1f}% of copy bandwidth), torch fused AdamW {t['step_ms_median']:.3f} ms, "
          f"torch/fusedopt = {t['step_ms_median'] / o['step_ms_median']:.2f}")
PY
else
    echo "PyTorch with CUDA is not importable here: no comparison" | tee -a "$REPORT"
fi
section "summary"
if [ $status = 0 ]; then
    echo "gpu-check: all steps passed" | tee -a "$REPORT"
else
    echo "gpu-check: FAILED: ${failed[*]}" | tee -a "$REPORT"
fi
exit $status
