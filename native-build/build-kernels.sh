#!/usr/bin/env bash
# Compiles cuda/*.cu into the kernel resources that the CUDA backend loads at run time (it never runs nvcc):
#
#   src/main/resources/io/fusedopt/cuda/<name>.ptx      PTX for compute_80, JIT-compiled by the driver
#   src/main/resources/io/fusedopt/cuda/<name>.fatbin   SASS for sm_80 and sm_90, plus PTX for compute_90
#   src/main/resources/io/fusedopt/cuda/kernels.txt     every entry name, sorted, for the Java side
#
# and prints the sm_90 register and spill figures of every entry, failing if any entry spills.
#
# Usage: native-build/build-kernels.sh                  regenerate the resources in place
#        native-build/build-kernels.sh --check          fail, naming the file, when cuda/ or the resources changed
#                                                       since the last regeneration (native-build/kernels.sha256)
#        native-build/build-kernels.sh --check --full   regenerate into a temporary directory and fail, naming the
#                                                       file, if a committed resource differs, is missing or is extra
#
# Every regeneration writes native-build/kernels.sha256, the digests of each source it compiled and of each
# resource it wrote. --check compares those digests, which takes no compiler time; with --full it recompiles
# everything (several minutes on two cores: every rule has an entry per storage regime), which also catches
# output that depends on where it was compiled.
#
# Bit parity with the Java CPU backend rests on the flags: no contraction into fused multiply-adds beyond the
# explicit fmaf calls (--fmad=false), IEEE division and square root, denormals kept, no fast math.
#
# nvcc 13.0 output is deterministic (the same bytes for PTX and fatbin on every run, from any directory), so
# --check compares both byte for byte. A different nvcc release emits different bytes for the same source; then
# --check can only compare what does not depend on the compiler (entry names and parameter lists) and says so.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SELF="$ROOT/native-build/$(basename "${BASH_SOURCE[0]}")"
RES_REL="src/main/resources/io/fusedopt/cuda"
NVCC="${NVCC:-nvcc}"

MODE=build
FULL=0
case "${1:-}" in
    "") ;;
    --check) MODE=check ;;
    *) echo "usage: $0 [--check [--full]]" >&2; exit 2 ;;
esac
case "${2:-}" in
    "") ;;
    --full) [[ $MODE == check ]] || { echo "usage: $0 [--check [--full]]" >&2; exit 2; }; FULL=1 ;;
    *) echo "usage: $0 [--check [--full]]" >&2; exit 2 ;;
esac
[[ $# -le 2 ]] || { echo "usage: $0 [--check [--full]]" >&2; exit 2; }
MANIFEST_REL="native-build/kernels.sha256"

# The digests of every kernel source and of every resource built from them, in a fixed order.
manifest() {
    { find cuda -type f; echo "native-build/build-kernels.sh"; find "$RES_REL" -type f; } | LC_ALL=C sort \
        | while read -r f; do sha256sum "$f"; done
}

if [[ $MODE == check && $FULL == 0 ]]; then
    cd "$ROOT"
    if [[ ! -f "$MANIFEST_REL" ]]; then
        echo "build-kernels.sh: error: $MANIFEST_REL is missing; run native-build/build-kernels.sh" >&2
        exit 1
    fi
    if ! diff <(manifest) "$MANIFEST_REL" > /dev/null; then
        echo "build-kernels.sh: error: cuda/ or the committed kernels changed since they were built;" \
             "run native-build/build-kernels.sh" >&2
        diff <(manifest) "$MANIFEST_REL" | sed -n 's/^[<>] [0-9a-f]*  /  /p' | LC_ALL=C sort -u >&2
        exit 1
    fi
    echo "kernels up to date with cuda/ ($MANIFEST_REL; --full recompiles to compare)"
    exit 0
fi

if ! command -v "$NVCC" >/dev/null 2>&1; then
    if [[ $MODE == check ]]; then
        echo "nvcc not found: using the committed kernels"
        exit 0
    fi
    echo "build-kernels.sh: error: nvcc not found; install the CUDA toolkit or set NVCC" >&2
    exit 1
fi

cd "$ROOT"
shopt -s nullglob
SOURCES=(cuda/*.cu)
[[ ${#SOURCES[@]} -gt 0 ]] || { echo "build-kernels.sh: error: no cuda/*.cu" >&2; exit 1; }

# A passed --check leaves a stamp of everything it depends on, so that an unchanged tree is not recompiled on
# every Maven build (the full check takes about a minute on two cores).
STAMP="target/kernel-check.stamp"
inputs_digest() {
    {
        "$NVCC" --version
        find cuda "$RES_REL" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
        sha256sum "$SELF"
    } | sha256sum | cut -d' ' -f1
}
if [[ $MODE == check && -f "$STAMP" && "$(cat "$STAMP")" == "$(inputs_digest)" ]]; then
    echo "kernels up to date (unchanged since the last check)"
    exit 0
fi

COMMON=(--fmad=false -prec-div=true -prec-sqrt=true -ftz=false -std=c++17 -Icuda/include)
PTX_TARGET=(-arch=compute_80)
FATBIN_TARGETS=(-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90
                -gencode arch=compute_90,code=compute_90)

WORK="$(mktemp -d "${TMPDIR:-/tmp}/fusedopt-kernels.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
GEN="$WORK/gen"
LOGS="$WORK/logs"
mkdir -p "$GEN" "$LOGS"

# One source: its PTX, then its fatbin with ptxas's resource report kept for the summary.
compile() {
    local src="$1" name
    name="$(basename "$src" .cu)"
    if ! "$NVCC" -ptx "${PTX_TARGET[@]}" "${COMMON[@]}" "$src" -o "$GEN/$name.ptx" 2> "$LOGS/$name.ptx.log"; then
        cat "$LOGS/$name.ptx.log" >&2
        echo "build-kernels.sh: error: nvcc -ptx failed for $src" >&2
        return 1
    fi
    if ! "$NVCC" -fatbin "${FATBIN_TARGETS[@]}" "${COMMON[@]}" -Xptxas -v "$src" -o "$GEN/$name.fatbin" \
            2> "$LOGS/$name.ptxas.log"; then
        cat "$LOGS/$name.ptxas.log" >&2
        echo "build-kernels.sh: error: nvcc -fatbin failed for $src" >&2
        return 1
    fi
}

# nvcc is single-threaded per file: compile the files side by side, a few at a time.
JOBS="$(nproc 2>/dev/null || echo 2)"
PIDS=()
failed=0
for src in "${SOURCES[@]}"; do
    compile "$src" &
    PIDS+=("$!")
    if [[ ${#PIDS[@]} -ge $JOBS ]]; then
        wait "${PIDS[0]}" || failed=1
        PIDS=("${PIDS[@]:1}")
    fi
done
for pid in "${PIDS[@]}"; do wait "$pid" || failed=1; done
[[ $failed == 0 ]] || exit 1

for ptx in "$GEN"/*.ptx; do
    sed -n 's/^\.visible \.entry \([A-Za-z_][A-Za-z0-9_]*\)(.*/\1/p' "$ptx"
done | LC_ALL=C sort > "$GEN/kernels.txt"
dups="$(uniq -d "$GEN/kernels.txt")"
[[ -z "$dups" ]] || { echo "build-kernels.sh: error: entries defined twice: $dups" >&2; exit 1; }

# One line per entry from ptxas -v, for sm_90 only: registers, stack frame, spill stores and loads, shared memory.
cat "$LOGS"/*.ptxas.log | awk '
    /Compiling entry function/ { split($0, q, "\047"); name = q[2]; arch = q[4]; next }
    arch == "sm_90" && /bytes stack frame/ { stack[name] = $1; stores[name] = $5; loads[name] = $9; next }
    arch == "sm_90" && /Used [0-9]+ registers/ {
        regs = 0; smem = 0
        for (i = 1; i < NF; i++) {
            if ($(i + 1) ~ /^registers/) regs = $i
            if ($(i + 1) == "bytes" && $(i + 2) ~ /^smem/) smem = $i
        }
        printf "%-34s %5d %6d %13s %5d\n", name, regs, stack[name], stores[name] "/" loads[name], smem
    }' | LC_ALL=C sort > "$WORK/resources.txt"
printf '%-34s %5s %6s %13s %5s\n' "sm_90 entry" "regs" "stack" "spill st/ld" "smem"
cat "$WORK/resources.txt"
spilling="$(awk '$4 != "0/0" { print $1 }' "$WORK/resources.txt")"
[[ -z "$spilling" ]] || { echo "build-kernels.sh: error: these entries spill registers:" $spilling >&2; exit 1; }
if grep -h -i "warning" "$LOGS"/*.log >&2; then
    echo "build-kernels.sh: error: nvcc warned (above)" >&2
    exit 1
fi

expected="$(wc -l < "$GEN/kernels.txt")"
reported="$(wc -l < "$WORK/resources.txt")"
[[ "$expected" == "$reported" ]] \
    || { echo "build-kernels.sh: error: ptxas reported $reported sm_90 entries, the PTX has $expected" >&2; exit 1; }

if [[ $MODE == build ]]; then
    mkdir -p "$RES_REL"
    for f in "$RES_REL"/*.ptx "$RES_REL"/*.fatbin; do
        [[ -e "$GEN/$(basename "$f")" ]] || { rm -f "$f"; echo "removed $f (no source)"; }
    done
    cp "$GEN"/*.ptx "$GEN"/*.fatbin "$GEN/kernels.txt" "$RES_REL"/
    manifest > "$MANIFEST_REL"
    echo "wrote $RES_REL: ${#SOURCES[@]} PTX and fatbin files, $expected entries"
    exit 0
fi

# --check
nvcc_release() { sed -n 's|^// Cuda compilation tools, \(release [^,]*, V[0-9.]*\)$|\1|p' "$1" | head -n 1; }
# The entry declarations of a PTX file, free of everything the compiler release chooses.
signatures() { awk '/^\.visible \.entry/ { on = 1 } on { print } on && /^\)/ { on = 0 }' "$1"; }

mine="$("$NVCC" --version | sed -n 's/^Cuda compilation tools, \(release [^,]*, V[0-9.]*\)$/\1/p')"
committed=""
for f in "$RES_REL"/*.ptx; do committed="$(nvcc_release "$f")"; break; done

stale=()
for f in "$GEN"/*; do
    if [[ ! -e "$RES_REL/$(basename "$f")" ]]; then
        stale+=("$RES_REL/$(basename "$f") (missing)")
    fi
done
for f in "$RES_REL"/*.ptx "$RES_REL"/*.fatbin; do
    if [[ ! -e "$GEN/$(basename "$f")" ]]; then
        stale+=("$f (extra: no cuda/$(basename "${f%.*}").cu)")
    fi
done

if [[ -z "$committed" || "$committed" == "$mine" ]]; then
    for f in "$GEN"/*; do
        name="$(basename "$f")"
        if [[ -e "$RES_REL/$name" ]] && ! cmp -s "$f" "$RES_REL/$name"; then
            stale+=("$RES_REL/$name (differs)")
        fi
    done
else
    echo "build-kernels.sh: the committed kernels come from nvcc $committed, this is nvcc $mine:" \
         "comparing entry names and parameter lists only"
    if [[ -e "$RES_REL/kernels.txt" ]] && ! cmp -s "$GEN/kernels.txt" "$RES_REL/kernels.txt"; then
        stale+=("$RES_REL/kernels.txt (differs)")
    fi
    for f in "$GEN"/*.ptx; do
        name="$(basename "$f")"
        if [[ -e "$RES_REL/$name" ]] && ! cmp -s <(signatures "$f") <(signatures "$RES_REL/$name"); then
            stale+=("$RES_REL/$name (entry signatures differ)")
        fi
    done
fi

if [[ ${#stale[@]} -gt 0 ]]; then
    echo "build-kernels.sh: error: the committed kernels do not match cuda/; run native-build/build-kernels.sh" >&2
    printf '  %s\n' "${stale[@]}" >&2
    exit 1
fi
mkdir -p "$(dirname "$STAMP")"
inputs_digest > "$STAMP"
echo "kernels up to date: ${#SOURCES[@]} PTX and fatbin files, $expected entries"
