#!/usr/bin/env bash
# Builds the fusedopt CPU stand-in for the CUDA driver into target/cuda-emu/:
#
#   libcuda.so.1              the stand-in driver (every symbol JCuda imports)
#   libcublas.so.12           the cuBLAS stand-in (every symbol JCublas2 imports)
#   kernels/<name>.so         host builds of cuda/<name>.cu
#   ptx/<name>.ptx            nvcc PTX of cuda/<name>.cu (only used for checks)
#   test/<name>.so, .ptx      the stand-in's own test kernels (native-build/emu/test)
#   libfusedopt_emu_ctl.so    JNI bridge for io.fusedopt.emu.StandIn (tests)
#
# Fails if any PTX .entry (from nvcc or from the committed
# src/main/resources/io/fusedopt/cuda/*.ptx) has no host-compiled symbol.
# Outputs that are newer than their inputs are not rebuilt.
#
# Options: --update-test-ptx  copy freshly generated test PTX into
#                             native-build/emu/test/ptx (for machines without nvcc)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
EMU="$ROOT/native-build/emu"
OUT="$ROOT/target/cuda-emu"
CXX="${CXX:-g++}"
NVCC="${NVCC:-nvcc}"
JCUDA_VERSION="${JCUDA_VERSION:-12.0.0}"
M2_REPO="${M2_REPO:-$HOME/.m2/repository}"
SELF="${BASH_SOURCE[0]}"
INSTALL_HINT="apt-get install -y libffi-dev g++"
UPDATE_TEST_PTX=0
for arg in "$@"; do
    case "$arg" in
        --update-test-ptx) UPDATE_TEST_PTX=1 ;;
        *) echo "usage: $0 [--update-test-ptx]" >&2; exit 2 ;;
    esac
done

die() { echo "native-build/emu/build.sh: error: $*" >&2; exit 1; }
log() { echo "[cuda-emu] $*"; }

# True when $1 exists and is newer than every other argument.
fresh() {
    local out="$1"; shift
    [[ -e "$out" ]] || return 1
    local dep
    for dep in "$@"; do
        [[ "$dep" -nt "$out" ]] && return 1
    done
    return 0
}

PIDS=()
spawn() { "$@" & PIDS+=("$!"); }
join() {
    local failed=0 pid
    for pid in "${PIDS[@]}"; do wait "$pid" || failed=1; done
    PIDS=()
    [[ $failed == 0 ]] || die "$1"
}

# ---- tools -------------------------------------------------------------------
command -v "$CXX" >/dev/null 2>&1 || die "C++ compiler '$CXX' not found; install it with: $INSTALL_HINT"
for tool in nm readelf; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' (binutils) not found; install it with: $INSTALL_HINT"
done
FFI_CFLAGS=""
FFI_LIBS="-lffi"
if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists libffi; then
    FFI_CFLAGS="$(pkg-config --cflags libffi)"
    FFI_LIBS="$(pkg-config --libs libffi)"
elif ! echo '#include <ffi.h>' | "$CXX" -E -x c++ - >/dev/null 2>&1; then
    die "libffi development files not found; install them with: $INSTALL_HINT"
fi
HAVE_NVCC=0
command -v "$NVCC" >/dev/null 2>&1 && HAVE_NVCC=1

mkdir -p "$OUT/obj" "$OUT/gen" "$OUT/kernels" "$OUT/ptx" "$OUT/test"

# ---- the driver symbol list ------------------------------------------------------
# JCuda binds lazily and an undefined symbol kills the JVM when called, so the
# stand-in must define everything libJCudaDriver imports. The committed list
# is the fallback; the jar in the local Maven repository is the authority.
IMPORTS="$OUT/gen/jcuda-driver-imports.txt"
JAR="$M2_REPO/org/jcuda/jcuda-natives/$JCUDA_VERSION/jcuda-natives-$JCUDA_VERSION-linux-x86_64.jar"
cp "$EMU/jcuda-driver-imports.txt" "$OUT/gen/imports.committed"
if [[ -f "$JAR" ]] && command -v unzip >/dev/null 2>&1; then
    if ! fresh "$OUT/gen/imports.jar" "$JAR"; then
        unzip -p "$JAR" "lib/libJCudaDriver-$JCUDA_VERSION-linux-x86_64.so" > "$OUT/gen/libJCudaDriver.so"
        nm -D --undefined-only "$OUT/gen/libJCudaDriver.so" | awk '$1 == "U" && $2 ~ /^cu/ { print $2 }' \
            | sort -u > "$OUT/gen/imports.jar"
        rm -f "$OUT/gen/libJCudaDriver.so"
    fi
    if ! cmp -s "$OUT/gen/imports.jar" "$EMU/jcuda-driver-imports.txt"; then
        log "note: JCuda $JCUDA_VERSION imports differ from native-build/emu/jcuda-driver-imports.txt; using both"
    fi
    sort -u "$OUT/gen/imports.committed" "$OUT/gen/imports.jar" > "$IMPORTS.tmp"
else
    sort -u "$OUT/gen/imports.committed" > "$IMPORTS.tmp"
fi
if cmp -s "$IMPORTS.tmp" "$IMPORTS"; then rm "$IMPORTS.tmp"; else mv "$IMPORTS.tmp" "$IMPORTS"; fi

# ---- libcuda.so.1 ----------------------------------------------------------------
DRIVER_FLAGS=(-std=c++17 -O2 -fPIC -fno-fast-math -fvisibility=hidden -fvisibility-inlines-hidden
              -Wall -Wextra -Wno-unused-parameter $FFI_CFLAGS)
HEADERS=("$EMU/src/emu_internal.h" "$SELF")
OBJS=()
for name in driver ptx kernels exec; do
    obj="$OUT/obj/$name.o"
    OBJS+=("$obj")
    if ! fresh "$obj" "$EMU/src/$name.cpp" "${HEADERS[@]}"; then
        log "compile src/$name.cpp"
        spawn "$CXX" "${DRIVER_FLAGS[@]}" -c "$EMU/src/$name.cpp" -o "$obj"
    fi
done
obj="$OUT/obj/fiber_switch.o"
OBJS+=("$obj")
if ! fresh "$obj" "$EMU/src/fiber_switch.S" "$SELF"; then
    spawn "$CXX" -c "$EMU/src/fiber_switch.S" -o "$obj"
fi
join "compiling the stand-in failed"

# Everything imported but not implemented becomes a NOT_SUPPORTED entry point.
STUBS="$OUT/gen/stubs.cpp"
nm -g --defined-only "${OBJS[@]}" | awk 'NF == 3 && $3 ~ /^cu/ { print $3 }' | sort -u > "$OUT/gen/implemented.txt"
{
    echo '// Generated by native-build/emu/build.sh: driver entry points JCuda imports'
    echo '// that the stand-in does not implement.'
    echo '#include "emu_internal.h"'
    comm -23 "$IMPORTS" "$OUT/gen/implemented.txt" | sed 's/.*/EMU_NOT_SUPPORTED(&)/'
} > "$STUBS.tmp"
if cmp -s "$STUBS.tmp" "$STUBS"; then rm "$STUBS.tmp"; else mv "$STUBS.tmp" "$STUBS"; fi
if ! fresh "$OUT/obj/stubs.o" "$STUBS" "${HEADERS[@]}"; then
    "$CXX" "${DRIVER_FLAGS[@]}" -I"$EMU/src" -c "$STUBS" -o "$OUT/obj/stubs.o"
fi
OBJS+=("$OUT/obj/stubs.o")

LIB="$OUT/libcuda.so.1"
if ! fresh "$LIB" "${OBJS[@]}"; then
    log "link libcuda.so.1 ($(wc -l < "$OUT/gen/implemented.txt") implemented, $(grep -c EMU_NOT_SUPPORTED "$STUBS" || true) not supported)"
    # shellcheck disable=SC2086
    "$CXX" -shared -Wl,-soname,libcuda.so.1 -Wl,--no-undefined -Wl,-z,nodelete -o "$LIB.tmp" "${OBJS[@]}" \
        $FFI_LIBS -ldl -lpthread
    mv "$LIB.tmp" "$LIB"
fi
nm -D --defined-only "$LIB" | awk '{ print $3 }' | sort -u > "$OUT/gen/exported.txt"
MISSING="$(comm -23 "$IMPORTS" "$OUT/gen/exported.txt")"
[[ -z "$MISSING" ]] || die "libcuda.so.1 lacks driver symbols: $MISSING"

# ---- libcublas.so.12 ---------------------------------------------------------------
# The cuBLAS stand-in (native-build/emu/cublas) for JCublas2. As with the driver,
# every cublas* symbol libJCublas2 imports must be defined; the jcublas-natives jar
# is the authority, cublas/jcublas2-imports.txt the committed fallback. JCublas2
# imports them versioned (cublasSgemm_v2@libcublas.so.12), hence the version script.
CUBLAS_IMPORTS="$OUT/gen/jcublas2-imports.txt"
CUBLAS_JAR="$M2_REPO/org/jcuda/jcublas-natives/$JCUDA_VERSION/jcublas-natives-$JCUDA_VERSION-linux-x86_64.jar"
if [[ -f "$CUBLAS_JAR" ]] && command -v unzip >/dev/null 2>&1; then
    if ! fresh "$OUT/gen/cublas-imports.jar" "$CUBLAS_JAR"; then
        unzip -p "$CUBLAS_JAR" "lib/libJCublas2-$JCUDA_VERSION-linux-x86_64.so" > "$OUT/gen/libJCublas2.so"
        nm -D --undefined-only "$OUT/gen/libJCublas2.so" | awk '$1 == "U" && $2 ~ /^cublas/ { sub(/@.*/, "", $2); print $2 }' \
            | sort -u > "$OUT/gen/cublas-imports.jar"
        rm -f "$OUT/gen/libJCublas2.so"
    fi
    if ! cmp -s "$OUT/gen/cublas-imports.jar" "$EMU/cublas/jcublas2-imports.txt"; then
        log "note: JCublas2 $JCUDA_VERSION imports differ from native-build/emu/cublas/jcublas2-imports.txt; using both"
    fi
    sort -u "$EMU/cublas/jcublas2-imports.txt" "$OUT/gen/cublas-imports.jar" > "$CUBLAS_IMPORTS.tmp"
else
    sort -u "$EMU/cublas/jcublas2-imports.txt" > "$CUBLAS_IMPORTS.tmp"
fi
if cmp -s "$CUBLAS_IMPORTS.tmp" "$CUBLAS_IMPORTS"; then rm "$CUBLAS_IMPORTS.tmp"; else mv "$CUBLAS_IMPORTS.tmp" "$CUBLAS_IMPORTS"; fi

CUBLAS_HEADERS=("$EMU/cublas/cublas_emu.h" "$SELF")
if ! fresh "$OUT/obj/cublas.o" "$EMU/cublas/cublas.cpp" "${CUBLAS_HEADERS[@]}"; then
    log "compile cublas/cublas.cpp"
    "$CXX" "${DRIVER_FLAGS[@]}" -ffp-contract=off -c "$EMU/cublas/cublas.cpp" -o "$OUT/obj/cublas.o"
fi
nm -g --defined-only "$OUT/obj/cublas.o" | awk 'NF == 3 && $3 ~ /^cublas/ { print $3 }' | sort -u \
    > "$OUT/gen/cublas-implemented.txt"
CUBLAS_STUBS="$OUT/gen/cublas_stubs.cpp"
{
    echo '// Generated by native-build/emu/build.sh: cuBLAS entry points JCublas2 imports'
    echo '// that the stand-in does not implement.'
    echo '#include "cublas_emu.h"'
    comm -23 "$CUBLAS_IMPORTS" "$OUT/gen/cublas-implemented.txt" | sed 's/.*/CUBLAS_EMU_NOT_SUPPORTED(&)/'
} > "$CUBLAS_STUBS.tmp"
if cmp -s "$CUBLAS_STUBS.tmp" "$CUBLAS_STUBS"; then rm "$CUBLAS_STUBS.tmp"; else mv "$CUBLAS_STUBS.tmp" "$CUBLAS_STUBS"; fi
if ! fresh "$OUT/obj/cublas_stubs.o" "$CUBLAS_STUBS" "${CUBLAS_HEADERS[@]}"; then
    "$CXX" "${DRIVER_FLAGS[@]}" -I"$EMU/cublas" -c "$CUBLAS_STUBS" -o "$OUT/obj/cublas_stubs.o"
fi
CUBLAS_MAP="$OUT/gen/libcublas.map"
printf 'libcublas.so.12 {\n  global: cublas*;\n  local: *;\n};\n' > "$CUBLAS_MAP.tmp"
if cmp -s "$CUBLAS_MAP.tmp" "$CUBLAS_MAP"; then rm "$CUBLAS_MAP.tmp"; else mv "$CUBLAS_MAP.tmp" "$CUBLAS_MAP"; fi
CUBLAS_LIB="$OUT/libcublas.so.12"
if ! fresh "$CUBLAS_LIB" "$OUT/obj/cublas.o" "$OUT/obj/cublas_stubs.o" "$CUBLAS_MAP" "$LIB"; then
    log "link libcublas.so.12 ($(wc -l < "$OUT/gen/cublas-implemented.txt") implemented, $(grep -c CUBLAS_EMU_NOT_SUPPORTED "$CUBLAS_STUBS" || true) not supported)"
    # Depends on the driver stand-in (counters, allocation table), found next to it.
    # shellcheck disable=SC2016
    "$CXX" -shared -Wl,-soname,libcublas.so.12 -Wl,--version-script="$CUBLAS_MAP" -Wl,--no-undefined \
        -Wl,-rpath,'$ORIGIN' -o "$CUBLAS_LIB.tmp" "$OUT/obj/cublas.o" "$OUT/obj/cublas_stubs.o" "$LIB" -lpthread
    mv "$CUBLAS_LIB.tmp" "$CUBLAS_LIB"
fi
nm -D --defined-only "$CUBLAS_LIB" | awk '$3 ~ /^cublas/ { sub(/@.*/, "", $3); print $3 }' | sort -u \
    > "$OUT/gen/cublas-exported.txt"
MISSING="$(comm -23 "$CUBLAS_IMPORTS" "$OUT/gen/cublas-exported.txt")"
[[ -z "$MISSING" ]] || die "libcublas.so.12 lacks cuBLAS symbols: $MISSING"

# ---- kernel libraries ------------------------------------------------------------
SHIM="$EMU/include/cuda_runtime_shim.h"
KERNEL_FLAGS=(-x c++ -std=c++17 -O2 -fPIC -fno-fast-math -ffp-contract=off -fno-strict-aliasing
              -Wno-unused-parameter -I"$EMU/include")
DYN_SMEM_CAPACITY=232448  # 227 KiB, the sm_90 opt-in maximum per block

# Compiles one .cu into a shared library that depends on libcuda.so.1.
# "extern __shared__" arrays become undefined thread-local symbols; they are
# defined here, all at one address, as on the device.
build_kernel_lib() {
    local src="$1" so="$2"; shift 2
    local base; base="$(basename "$src" .cu)"
    local work="$OUT/obj/$(basename "$(dirname "$so")")-$base"
    mkdir -p "$work"
    "$CXX" "${KERNEL_FLAGS[@]}" "$@" -include "$SHIM" -c "$src" -o "$work/kernel.o" \
        || { echo "host compilation of $src failed" >&2; return 1; }
    local names
    names="$(readelf -sW "$work/kernel.o" | awk '$4 == "TLS" && $7 == "UND" { print $8 }' \
        | grep -v '^fusedopt_emu_' | sort -u || true)"
    local extra=()
    if [[ -n "$names" ]]; then
        {
            echo '    .section .tbss,"awT",@nobits'
            echo '    .p2align 4'
            for n in fusedopt_emu_dynamic_smem $names; do
                echo "    .globl $n"
                echo "    .hidden $n"
                echo "    .type $n, @object"
                echo "    .size $n, $DYN_SMEM_CAPACITY"
            done
            for n in fusedopt_emu_dynamic_smem $names; do echo "$n:"; done
            echo "    .zero $DYN_SMEM_CAPACITY"
            echo '    .section .note.GNU-stack,"",@progbits'
        } > "$work/dynsmem.S"
        {
            echo '#include <cstddef>'
            echo 'extern "C" __thread unsigned char fusedopt_emu_dynamic_smem[];'
            echo 'extern "C" __attribute__((visibility("default"))) void* fusedopt_emu_dynamic_smem_base() {'
            echo '    return fusedopt_emu_dynamic_smem;'
            echo '}'
            echo 'extern "C" {'
            echo "__attribute__((visibility(\"default\"))) extern const size_t fusedopt_emu_dynamic_smem_capacity = $DYN_SMEM_CAPACITY;"
            echo '}'
        } > "$work/dynsmem_base.cpp"
        "$CXX" -c "$work/dynsmem.S" -o "$work/dynsmem.o"
        "$CXX" -std=c++17 -O2 -fPIC -c "$work/dynsmem_base.cpp" -o "$work/dynsmem_base.o"
        extra=("$work/dynsmem.o" "$work/dynsmem_base.o")
    fi
    # shellcheck disable=SC2016
    "$CXX" -shared -o "$so.tmp" "$work/kernel.o" "${extra[@]}" "$LIB" -lm -Wl,--no-undefined -Wl,-Bsymbolic \
        -Wl,-rpath,'$ORIGIN/..' || { echo "linking $so failed" >&2; return 1; }
    mv "$so.tmp" "$so"
}

# Fails naming every .entry of a PTX file that no host library defines.
check_entries() {
    local ptx="$1"; shift
    local defined
    defined="$(for so in "$@"; do nm -D --defined-only "$so" | awk '{ print $3 }'; done | sort -u)"
    local entry missing=()
    while read -r entry; do
        [[ -z "$entry" ]] && continue
        grep -qxF -- "$entry" <<< "$defined" || missing+=("$entry")
    done < <(grep -oE '\.entry[[:space:]]+[A-Za-z_$%][A-Za-z0-9_$%]*' "$ptx" | awk '{ print $2 }')
    if (( ${#missing[@]} > 0 )); then
        local e
        for e in "${missing[@]}"; do
            echo "native-build/emu/build.sh: error: PTX entry '$e' in ${ptx#"$ROOT"/} has no host-compiled symbol" >&2
        done
        die "host builds (${*#"$ROOT"/}) do not define every kernel of ${ptx#"$ROOT"/}"
    fi
}

ptx_of() {
    local src="$1" ptx="$2"; shift 2
    "$NVCC" -ptx --fmad=false -arch=compute_80 "$@" -o "$ptx.tmp" "$src" && mv "$ptx.tmp" "$ptx"
}

KERNEL_DEPS=("$SHIM" "$LIB" "$SELF")
CUDA_INCLUDE=()
[[ -d "$ROOT/cuda/include" ]] && CUDA_INCLUDE=(-I"$ROOT/cuda/include")
CUDA_HEADERS=()
if [[ -d "$ROOT/cuda/include" ]]; then
    while IFS= read -r -d '' h; do CUDA_HEADERS+=("$h"); done < <(find "$ROOT/cuda/include" -type f -print0)
fi

shopt -s nullglob
PROJECT_SOURCES=("$ROOT"/cuda/*.cu)
TEST_SOURCES=("$EMU"/test/*.cu)
RESOURCE_PTX=("$ROOT"/src/main/resources/io/fusedopt/cuda/*.ptx)
shopt -u nullglob

# Remove outputs whose source disappeared, so lookups never find stale kernels.
for so in "$OUT"/kernels/*.so; do
    [[ -e "$so" ]] || continue
    [[ -f "$ROOT/cuda/$(basename "$so" .so).cu" ]] || rm -f "$so" "$OUT/ptx/$(basename "$so" .so).ptx"
done
for so in "$OUT"/test/*.so; do
    [[ -e "$so" ]] || continue
    [[ -f "$EMU/test/$(basename "$so" .so).cu" ]] || rm -f "$so" "$OUT/test/$(basename "$so" .so).ptx"
done

for src in "${PROJECT_SOURCES[@]}"; do
    name="$(basename "$src" .cu)"
    if ! fresh "$OUT/kernels/$name.so" "$src" "${KERNEL_DEPS[@]}" "${CUDA_HEADERS[@]}"; then
        log "host build cuda/$name.cu"
        spawn build_kernel_lib "$src" "$OUT/kernels/$name.so" "${CUDA_INCLUDE[@]}"
    fi
    # The committed PTX is checked below in any case; when it is newer than the
    # sources it is the PTX the library will load, and nvcc would only repeat it.
    resource_ptx="$ROOT/src/main/resources/io/fusedopt/cuda/$name.ptx"
    if fresh "$resource_ptx" "$src" "${CUDA_HEADERS[@]}"; then
        rm -f "$OUT/ptx/$name.ptx"
    elif [[ $HAVE_NVCC == 1 ]] && ! fresh "$OUT/ptx/$name.ptx" "$src" "$SELF" "${CUDA_HEADERS[@]}"; then
        log "nvcc -ptx cuda/$name.cu"
        spawn ptx_of "$src" "$OUT/ptx/$name.ptx" "${CUDA_INCLUDE[@]}"
    fi
done
for src in "${TEST_SOURCES[@]}"; do
    name="$(basename "$src" .cu)"
    if ! fresh "$OUT/test/$name.so" "$src" "${KERNEL_DEPS[@]}"; then
        log "host build native-build/emu/test/$name.cu"
        spawn build_kernel_lib "$src" "$OUT/test/$name.so"
    fi
    if [[ $HAVE_NVCC == 1 ]]; then
        if ! fresh "$OUT/test/$name.ptx" "$src" "$SELF"; then
            log "nvcc -ptx native-build/emu/test/$name.cu"
            spawn ptx_of "$src" "$OUT/test/$name.ptx"
        fi
    elif [[ -f "$EMU/test/ptx/$name.ptx" ]]; then
        cp "$EMU/test/ptx/$name.ptx" "$OUT/test/$name.ptx"
    else
        die "no nvcc and no committed PTX native-build/emu/test/ptx/$name.ptx"
    fi
done
join "building kernels failed"

if [[ $UPDATE_TEST_PTX == 1 ]]; then
    [[ $HAVE_NVCC == 1 ]] || die "--update-test-ptx needs nvcc"
    for src in "${TEST_SOURCES[@]}"; do
        name="$(basename "$src" .cu)"
        cp "$OUT/test/$name.ptx" "$EMU/test/ptx/$name.ptx"
    done
    log "updated native-build/emu/test/ptx"
fi

# ---- every PTX entry must have a host symbol ---------------------------------------------
PROJECT_LIBS=()
for src in "${PROJECT_SOURCES[@]}"; do
    name="$(basename "$src" .cu)"
    PROJECT_LIBS+=("$OUT/kernels/$name.so")
    if [[ -f "$OUT/ptx/$name.ptx" ]]; then
        check_entries "$OUT/ptx/$name.ptx" "$OUT/kernels/$name.so"
    elif [[ $HAVE_NVCC == 0 && ! -f "$ROOT/src/main/resources/io/fusedopt/cuda/$name.ptx" ]]; then
        log "warning: no nvcc and no committed PTX for cuda/$name.cu; its entries are not checked"
    fi
done
for ptx in "${RESOURCE_PTX[@]}"; do
    (( ${#PROJECT_LIBS[@]} > 0 )) || die "${ptx#"$ROOT"/} exists but there is no cuda/*.cu to build its kernels from"
    check_entries "$ptx" "${PROJECT_LIBS[@]}"
done
for src in "${TEST_SOURCES[@]}"; do
    name="$(basename "$src" .cu)"
    check_entries "$OUT/test/$name.ptx" "$OUT/test/$name.so"
done

# ---- JNI control library -------------------------------------------------------------
JNI_INCLUDE=""
for candidate in "${JAVA_HOME:-}/include" \
                 "$(dirname "$(dirname "$(readlink -f "$(command -v javac 2>/dev/null || echo /nonexistent)")")")/include"; do
    if [[ -f "$candidate/jni.h" ]]; then JNI_INCLUDE="$candidate"; break; fi
done
[[ -n "$JNI_INCLUDE" ]] || die "jni.h not found: set JAVA_HOME to a JDK"
CTL="$OUT/libfusedopt_emu_ctl.so"
if ! fresh "$CTL" "$EMU/ctl/fusedopt_emu_ctl.cpp" "$LIB" "$SELF"; then
    log "build libfusedopt_emu_ctl.so"
    # Linked by soname only (no RUNPATH): it must bind to the same driver JCuda gets. It calls
    # nothing in it directly (see the source), hence --no-as-needed.
    "$CXX" -std=c++17 -O2 -fPIC -shared -I"$JNI_INCLUDE" -I"$JNI_INCLUDE/linux" -o "$CTL.tmp" \
        "$EMU/ctl/fusedopt_emu_ctl.cpp" -Wl,--no-as-needed "$LIB" -Wl,--as-needed -ldl -Wl,--no-undefined
    mv "$CTL.tmp" "$CTL"
fi

log "ready: LD_LIBRARY_PATH=${OUT#"$ROOT"/} ($(ls "$OUT"/kernels/*.so 2>/dev/null | wc -l) kernel libraries, $(ls "$OUT"/test/*.so 2>/dev/null | wc -l) test libraries)"
