# check_build.sh — preflight and build steps of perf/gpu/check.sh (sourced).
#
# Preflight finds what the machine has; build picks the best way it allows:
# cmake + Ninja, cmake + Makefiles, or a direct nvcc/c++ build that needs
# neither (the file lists below mirror native/CMakeLists.txt,
# perf/native/CMakeLists.txt and tests/native/CMakeLists.txt).

NVCC="" CUDA_HOME="" CUDA_INC="" CUDA_LIB="" HOSTCXX="" NVCC_EXTRA=() GTEST_SRC="" GTEST_SYS=0
CMAKE_OK=0 GENERATOR="" ARCH=""
BIN_DIR="" LIB_DIR=""
# The test programs that have CUDA cases (CCE, qmatmul, scan, attention).
TEST_PROGRAMS=(engram_cce_test engram_cce_cuda_numerics_test engram_cce_filter_test
               engram_cce_shard_test engram_cce_memory_test engram_cce_abi_test engram_abi_test
               engram_qmatmul_cuda_test engram_scan_cuda_test engram_attention_cuda_test
               engram_attention_abi_test)

first_existing() { local p; for p in "$@"; do [ -e "$p" ] && { echo "$p"; return 0; }; done; return 1; }

# nvcc on PATH, else the usual install places (newest versioned one first).
find_nvcc() {
    local c
    c=$(command -v nvcc 2>/dev/null) && { echo "$c"; return 0; }
    for c in /usr/local/cuda/bin/nvcc $(ls -d /usr/local/cuda-*/bin/nvcc 2>/dev/null | sort -rV) /opt/cuda/bin/nvcc; do
        [ -x "$c" ] && { echo "$c"; return 0; }
    done
    return 1
}

# A CUDA tool next to nvcc, on PATH, or in the usual places.
find_cuda_tool() {  # name, extra candidates...
    local name="$1" c
    shift
    for c in "$CUDA_HOME/bin/$name" "$(command -v "$name" 2>/dev/null)" /usr/local/cuda/bin/"$name" "$@"; do
        [ -n "$c" ] && [ -x "$c" ] && [ ! -d "$c" ] && { echo "$c"; return 0; }
    done
    return 1
}

# The first host compiler nvcc accepts: it compiles a small kernel with it
# ($CUDAHOSTCXX, the user's choice, need only pass nvcc's version check).
# nvcc 13 may reject the newest gcc and CUDA 11.8 rejects gcc 12, so try
# several; as a last resort, gcc with -allow-unsupported-compiler.
probe_host_compiler() {
    local dir="$OUT/.hostcxx-probe" c real tried="" seen=" "
    mkdir -p "$dir"
    printf '#include <cstdio>\n__global__ void k(float* x) { x[threadIdx.x] += 1.0f; }\nint main() { std::printf("%%p\\n", (void*)k); }\n' >"$dir/probe.cu"
    local cands=(${CUDAHOSTCXX:-} g++ g++-14 g++-13 g++-12 g++-11 g++-10 clang++ clang++-18 clang++-17 clang++-16 clang++-15 clang++-14)
    for c in "${cands[@]}"; do
        real=$(command -v "$c" 2>/dev/null) || continue
        real=$(readlink -f "$real")
        case "$seen" in *" $real "*) continue ;; esac
        seen="$seen$real "
        tried="$tried $c"
        # Preprocessing alone catches nvcc's version check (seconds); the
        # compile then catches host headers its front end cannot parse.
        tmo "$NVCC" -ccbin "$c" -std=c++17 -E "$dir/probe.cu" -o /dev/null >"$dir/$c.log" 2>&1 || continue
        if [ "$c" = "${CUDAHOSTCXX:-}" ] || tmo "$NVCC" -ccbin "$c" -std=c++17 -c "$dir/probe.cu" -o "$dir/probe.o" >>"$dir/$c.log" 2>&1; then
            HOSTCXX=$(command -v "$c")
            fact host_compiler_tried "${tried# }"
            return 0
        fi
    done
    fact host_compiler_tried "${tried# }"
    c=$(command -v g++ 2>/dev/null) || return 1
    if tmo "$NVCC" -ccbin "$c" -allow-unsupported-compiler -std=c++17 -c "$dir/probe.cu" -o "$dir/probe.o" \
        >"$dir/unsupported.log" 2>&1; then
        HOSTCXX="$c"
        NVCC_EXTRA=(-allow-unsupported-compiler)
        return 0
    fi
    return 1
}

# GoogleTest: a source tree (ENGRAM_GTEST_SOURCE_DIR, a carried .deps/googletest,
# Debian's /usr/src/googletest) or the system's headers and libraries.
find_gtest() {
    local d
    for d in "${ENGRAM_GTEST_SOURCE_DIR:-}" "$ROOT/.deps/googletest" /usr/src/googletest; do
        [ -n "$d" ] && [ -f "$d/googletest/src/gtest-all.cc" ] && { GTEST_SRC="$d"; return 0; }
    done
    if [ -f /usr/include/gtest/gtest.h ] && ls /usr/lib*/libgtest.* /usr/lib/*/libgtest.* /usr/local/lib*/libgtest.* >/dev/null 2>&1; then
        GTEST_SYS=1
        return 0
    fi
    return 1
}

# Driver, device and compute mode. DEVICE_OK=1 only when a GPU can run our
# kernels: visible, not Prohibited, and a driver at least as new as nvcc's
# major CUDA version (the static runtime refuses an older one).
probe_device() {
    if [ "$DRY" = 1 ]; then
        DEVICE_WHY="dry run"
        return 1
    fi
    if [ "${ENGRAM_GPU_ASSUME_DEVICE:-0}" = 1 ]; then  # to test the GPU steps' own failure paths
        DEVICE_WHY=""
        fact device_assumed "ENGRAM_GPU_ASSUME_DEVICE=1"
        return 0
    fi
    if ! command -v nvidia-smi >/dev/null; then
        DEVICE_WHY="no nvidia-smi (no NVIDIA driver)"
        return 1
    fi
    local q
    q=$(tmo nvidia-smi --query-gpu=name,driver_version,compute_mode,memory.total,memory.used,compute_cap \
        --format=csv,noheader 2>&1 | head -1)
    if [ -z "$q" ] || ! grep -q ',' <<<"$q"; then
        q=$(tmo nvidia-smi --query-gpu=name,driver_version,compute_mode,memory.total,memory.used \
            --format=csv,noheader 2>&1 | head -1)
    fi
    if [ -z "$q" ] || ! grep -q ',' <<<"$q"; then
        DEVICE_WHY="nvidia-smi sees no GPU (${q:-no output})"
        return 1
    fi
    local name driver mode mem used cap
    IFS=',' read -r name driver mode mem used cap <<<"$q"
    trim() { sed 's/^ *//; s/ *$//' <<<"$1"; }
    name=$(trim "$name"); driver=$(trim "$driver"); mode=$(trim "$mode"); cap=$(trim "${cap:-}")
    fact gpu "$name"
    fact driver "$driver"
    fact compute_mode "$mode"
    fact gpu_memory "$(trim "$mem") ($(trim "$used") used)"
    [ -n "$cap" ] && fact compute_cap "$cap"
    local drv_cuda
    drv_cuda=$(tmo nvidia-smi 2>/dev/null | grep -o 'CUDA Version: *[0-9.]*' | grep -o '[0-9.]*$' | head -1)
    fact driver_cuda "${drv_cuda:-unknown}"
    [ -z "$ARCH" ] && [[ "$cap" =~ ^[0-9]+\.[0-9]+$ ]] && ARCH="${cap/./}"
    case "$mode" in
        Prohibited)
            DEVICE_WHY="compute mode Prohibited: no process may create a context"
            return 1 ;;
        Exclusive_Process|Exclusive_Thread)
            if tmo nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null | grep -q '[0-9]'; then
                DEVICE_WHY="compute mode $mode and another process holds the GPU"
                return 1
            fi ;;
    esac
    local nv_major="${FACT[nvcc_version]%%.*}" drv_major="${drv_cuda%%.*}"
    if [ -n "$nv_major" ] && [ -n "$drv_major" ] && [ "$drv_major" -lt "$nv_major" ] 2>/dev/null; then
        DEVICE_WHY="driver $driver supports CUDA $drv_cuda, older than nvcc ${FACT[nvcc_version]:-}: the runtime would refuse it"
        return 1
    fi
    DEVICE_WHY=""
    return 0
}

step_preflight() {
    local problems=()
    ARCH=""
    if NVCC=$(find_nvcc); then
        CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$NVCC")")")
        PATH="$(dirname "$NVCC"):$PATH"
        fact nvcc "$NVCC"
        fact nvcc_version "$("$NVCC" --version 2>/dev/null | grep -o 'release [0-9.]*' | grep -o '[0-9.]*$')"
        CUDA_INC=$(dirname "$(first_existing "$CUDA_HOME/include/cuda_runtime_api.h" \
            "$CUDA_HOME/targets/x86_64-linux/include/cuda_runtime_api.h" /usr/include/cuda_runtime_api.h \
            /usr/local/cuda/include/cuda_runtime_api.h || echo "$CUDA_HOME/include/x")")
        CUDA_LIB=$(dirname "$(first_existing "$CUDA_HOME/lib64/libcudart_static.a" \
            "$CUDA_HOME/targets/x86_64-linux/lib/libcudart_static.a" /usr/lib/x86_64-linux-gnu/libcudart_static.a \
            /usr/local/cuda/lib64/libcudart_static.a || echo "$CUDA_HOME/lib64/x")")
        if probe_host_compiler; then
            fact host_compiler "$HOSTCXX ${NVCC_EXTRA[*]}"
        else
            problems+=("no host compiler that nvcc accepts (tried: ${FACT[host_compiler_tried]:-none})")
        fi
    else
        problems+=("no nvcc (PATH, /usr/local/cuda*, /opt/cuda)")
    fi
    local t
    for t in cmake ninja make python3; do
        fact "tool_$t" "$(command -v "$t" 2>/dev/null || echo missing)"
    done
    command -v cmake >/dev/null && { command -v ninja >/dev/null || command -v make >/dev/null; } && CMAKE_OK=1
    GENERATOR=$(command -v ninja >/dev/null && echo Ninja || echo "Unix Makefiles")
    fact tool_compute_sanitizer "$(find_cuda_tool compute-sanitizer "$CUDA_HOME/compute-sanitizer/compute-sanitizer" || echo missing)"
    fact tool_ncu "$(find_cuda_tool ncu $(ls -d /usr/local/cuda/nsight-compute-*/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null) || echo missing)"
    if find_gtest; then
        fact gtest "$([ -n "$GTEST_SRC" ] && echo "source $GTEST_SRC" || echo system)"
    else
        fact gtest "missing (carry .deps/googletest: the CUDA cases then fall back to the Python tests)"
    fi
    if probe_device; then
        DEVICE_OK=1
    else
        DEVICE_OK=0
        [ "$DRY" = 1 ] || problems+=("$DEVICE_WHY")
    fi
    fact device "$([ "$DEVICE_OK" = 1 ] && echo usable || echo "none: $DEVICE_WHY")"
    ARCH="${ARCH:-90}"
    fact arch "${ENGRAM_CUDA_ARCHS:-$ARCH-real}"
    if [ ${#problems[@]} -eq 0 ]; then
        result ok "nvcc ${FACT[nvcc_version]:-?} with $(basename "${HOSTCXX:-?}"), device: ${FACT[device]:-}"
    else
        local IFS=';'
        result failed "${problems[*]}"
    fi
}

# --- build ---------------------------------------------------------------------

built_list() {
    local t out=""
    for t in engram-bench "${TEST_PROGRAMS[@]}"; do [ -x "$BIN_DIR/$t" ] && out="$out $t"; done
    [ -e "$LIB_DIR/libengram.so" ] && out="libengram$out"
    echo "${out# }"
}

step_build() {
    if [ -z "$NVCC" ] || [ -z "$HOSTCXX" ]; then
        result failed "cannot build: $([ -n "$NVCC" ] && echo "no host compiler nvcc accepts" || echo "no nvcc")"
        return
    fi
    local want_tests=1
    [ -n "$GTEST_SRC" ] || [ "$GTEST_SYS" = 1 ] || want_tests=0
    local method="direct nvcc/c++ (no cmake, or neither ninja nor make)"
    [ "$CMAKE_OK" = 1 ] && method="cmake ($GENERATOR)"
    fact build_method "$method"
    local what="libengram engram-bench$([ $want_tests = 1 ] && echo " ${TEST_PROGRAMS[*]}")"
    if [ "$DRY" = 1 ] && [ "${ENGRAM_GPU_DRY_BUILD:-0}" != 1 ]; then
        result skipped "dry run: would build $what for ${FACT[arch]:-} with $method, host compiler $HOSTCXX"
        return
    fi
    local note=""
    [ $want_tests = 1 ] || note="; no GoogleTest: test programs not built"
    if [ "$CMAKE_OK" = 1 ]; then
        if build_cmake "$want_tests"; then
            result ok "$method: $(built_list)$note"
            return
        fi
        if [ ! -e "$LIB_DIR/libengram.so" ] && [ "$CMAKE_CONFIGURED" = 0 ] && [ "$(step_left)" -gt 30 ]; then
            note="$note; cmake configure failed (build-gpu.configure.log), built directly"
            fact build_method "direct nvcc/c++ (cmake configure failed)"
            build_direct "$want_tests" && { result ok "direct: $(built_list)$note"; return; }
        fi
    else
        build_direct "$want_tests" && { result ok "$method: $(built_list)$note"; return; }
    fi
    local rc_status=failed
    [ "$(step_left)" -le 0 ] && rc_status=timeout
    result "$rc_status" "built: $(built_list)$note; see $BUILD_LOG"
}

# cmake: configure once (kept between runs in the same window), then only the
# targets the later steps run, with keep-going so that one broken test
# program does not stop the library or the bench.
CMAKE_CONFIGURED=0
build_cmake() {
    local want_tests="$1" dir="$BUILD"
    BIN_DIR="$dir/bin" LIB_DIR="$dir/lib" BUILD_LOG="$OUT/build.log"
    if [ -f "$dir/CMakeCache.txt" ] && ! grep -q "CMAKE_GENERATOR:INTERNAL=$GENERATOR\$" "$dir/CMakeCache.txt"; then
        dir="$BUILD-$(tr -cd 'a-z' <<<"${GENERATOR,,}")"
        BIN_DIR="$dir/bin" LIB_DIR="$dir/lib"
    fi
    local gtest=()
    [ -n "$GTEST_SRC" ] && gtest=(-DENGRAM_GTEST_SOURCE_DIR="$GTEST_SRC")
    export CUDAHOSTCXX="$HOSTCXX"  # CMake's CUDA language check ignores the cache entry
    tmo cmake -S "$ROOT" -B "$dir" -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release \
        -DENGRAM_WITH_CUDA=ON -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_HOST_COMPILER="$HOSTCXX" \
        ${NVCC_EXTRA:+-DCMAKE_CUDA_FLAGS="${NVCC_EXTRA[*]}"} \
        -DENGRAM_CUDA_ARCHS="${ENGRAM_CUDA_ARCHS:-$ARCH-real}" -DENGRAM_BUILD_MPI=OFF \
        -DENGRAM_BUILD_TESTS="$([ "$want_tests" = 1 ] && echo ON || echo OFF)" -DENGRAM_BUILD_BENCH=ON \
        "${gtest[@]}" >"$OUT/configure.log" 2>&1 || { tail -20 "$OUT/configure.log"; return 1; }
    CMAKE_CONFIGURED=1
    local targets=(engram engram-bench)
    [ "$want_tests" = 1 ] && targets+=("${TEST_PROGRAMS[@]}")
    local keep=(-k 0)
    [ "$GENERATOR" = Ninja ] || keep=(-k)
    tmo cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}" -- "${keep[@]}" >"$BUILD_LOG" 2>&1
    local rc=$?
    [ $rc -eq 0 ] || grep -E 'error' -A3 "$BUILD_LOG" | head -40
    [ $rc -eq 0 ] && [ -x "$BIN_DIR/engram-bench" ]
}

# --- direct build: nvcc and the host compiler, no cmake ---------------------------

# Objects newer than every source file are kept (a second run in the same
# window, with the build directory carried, only links).
NEWEST_SOURCE=""
COMPILE_PIDS=()
compile_bg() {  # object, command... — in the background, at most nproc at once
    local obj="$1"
    shift
    [ -n "$NEWEST_SOURCE" ] && [ "$obj" -nt "$NEWEST_SOURCE" ] && return 0
    while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n 2>/dev/null || sleep 0.2; done
    (tmo "$@" >>"$BUILD_LOG.$(basename "$obj").log" 2>&1 || { rm -f "$obj"; exit 1; }) &
    COMPILE_PIDS+=($!)
}

build_direct() {
    local want_tests="$1" d="$BUILD-direct" f o
    BIN_DIR="$d/bin" LIB_DIR="$d/lib" BUILD_LOG="$OUT/build.log"
    mkdir -p "$d/obj" "$BIN_DIR" "$LIB_DIR"
    NEWEST_SOURCE=$(find "$ROOT/native" "$ROOT/kernels" "$ROOT/perf/native" "$ROOT/tests/native" -type f \
        -printf '%T@ %p\n' 2>/dev/null | sort -n | tail -1 | cut -d' ' -f2-)
    rm -f "$BUILD_LOG".*.log
    local S="$ROOT/native/src" K="$ROOT/kernels"
    local x86=0
    case "$(uname -m)" in x86_64|amd64) x86=1 ;; esac
    local incs=(-I"$ROOT/native/include" -I"$S" -I"$K" -I"$CUDA_INC")
    local defs=(-DENGRAM_BUILDING_LIBRARY -DENGRAM_WITH_CUDA=1)
    [ $x86 = 1 ] && defs+=(-DENGRAM_HAVE_X86_KERNELS)
    local cxx=("$HOSTCXX" -std=c++17 -O3 -DNDEBUG -fPIC -fvisibility=hidden -fvisibility-inlines-hidden
               -fno-math-errno -pthread)
    local cuda_arch=() archs=() a
    IFS=';' read -r -a archs <<<"${ENGRAM_CUDA_ARCHS:-$ARCH-real}"
    for a in "${archs[@]}"; do
        case "$a" in
            *-virtual) cuda_arch+=(-gencode "arch=compute_${a%-virtual},code=compute_${a%-virtual}") ;;
            *-real) cuda_arch+=(-gencode "arch=compute_${a%-real},code=sm_${a%-real}") ;;
            *) cuda_arch+=(-gencode "arch=compute_$a,code=[sm_$a,compute_$a]") ;;
        esac
    done
    local nvcc=("$NVCC" -ccbin "$HOSTCXX" "${NVCC_EXTRA[@]}" -std=c++17 -O3 -DNDEBUG --expt-relaxed-constexpr
                -lineinfo -Xcompiler=-fPIC,-fvisibility=hidden "${cuda_arch[@]}")
    local lib_objs=()
    shopt -s nullglob
    for f in "$S"/api/*.cpp "$S"/core/*.cpp "$S"/cpu/*.cpp "$S"/ops/*/*.cpp "$S"/ops/*/cpu/*.cpp \
             "$S"/cuda/*.cpp "$S"/ops/*/cuda/*.cpp; do
        case "$f" in *_no_cuda.cpp|*/no_cuda.cpp) continue ;; esac
        o="$d/obj/lib_$(echo "${f#$ROOT/}" | tr '/' '_').o"
        lib_objs+=("$o")
        compile_bg "$o" "${cxx[@]}" "${defs[@]}" "${incs[@]}" -c "$f" -o "$o"
    done
    if [ $x86 = 1 ]; then
        for f in "$S"/cpu/avx2/*.cpp "$S"/ops/*/cpu/avx2/*.cpp; do
            o="$d/obj/lib_$(echo "${f#$ROOT/}" | tr '/' '_').o"; lib_objs+=("$o")
            compile_bg "$o" "${cxx[@]}" -mavx2 -mfma -mf16c "${defs[@]}" "${incs[@]}" -c "$f" -o "$o"
        done
        for f in "$S"/cpu/avx512/*.cpp "$S"/ops/*/cpu/avx512/*.cpp; do
            o="$d/obj/lib_$(echo "${f#$ROOT/}" | tr '/' '_').o"; lib_objs+=("$o")
            compile_bg "$o" "${cxx[@]}" -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma -mf16c \
                -Wno-uninitialized "${defs[@]}" "${incs[@]}" -c "$f" -o "$o"
        done
    fi
    for f in "$K"/*/*.cu; do
        o="$d/obj/lib_$(echo "${f#$ROOT/}" | tr '/' '_').o"; lib_objs+=("$o")
        compile_bg "$o" "${nvcc[@]}" "${defs[@]}" "${incs[@]}" -c "$f" -o "$o"
    done
    # engram-bench (with its CUDA cases and the cuBLAS baseline)
    local P="$ROOT/perf/native" bench_objs=() omp=()
    echo 'int main(){return 0;}' >"$d/obj/omp.cpp"
    "$HOSTCXX" -fopenmp "$d/obj/omp.cpp" -o "$d/obj/omp" >/dev/null 2>&1 && omp=(-fopenmp)
    local bdefs=(-DENGRAM_BENCH_CUDA=1) bincs=(-I"$P" -I"$P/suites" -I"$S" -I"$ROOT/native/include" -I"$CUDA_INC")
    for f in "$P"/bench_main.cpp "$P"/bench_report.cpp "$P"/bench_problem.cpp "$P"/bench_suites.cpp \
             "$P"/naive_cpu.cpp "$P"/cases_cpu.cpp "$P"/runtime_blas.cpp "$P"/runtime_cublas.cpp "$P"/suites/*.cpp; do
        o="$d/obj/bench_$(basename "$f").o"; bench_objs+=("$o")
        compile_bg "$o" "$HOSTCXX" -std=c++17 -O3 -DNDEBUG -march=native -fno-math-errno "${omp[@]}" \
            "${bdefs[@]}" "${bincs[@]}" -c "$f" -o "$o"
    done
    for f in "$P"/cases_cuda.cu "$P"/naive_cuda.cu; do
        o="$d/obj/bench_$(basename "$f").o"; bench_objs+=("$o")
        compile_bg "$o" "$NVCC" -ccbin "$HOSTCXX" "${NVCC_EXTRA[@]}" -std=c++17 -O3 -DNDEBUG \
            --expt-relaxed-constexpr "${cuda_arch[@]}" "${bdefs[@]}" "${bincs[@]}" -c "$f" -o "$o"
    done
    # the float64 references, the test support and GoogleTest
    local ref_objs=() test_common=() gtest_objs=() T="$ROOT/tests/native" gtinc=()
    for f in "$S"/ops/*/reference/*.cpp; do
        o="$d/obj/ref_$(basename "$f").o"; ref_objs+=("$o")
        compile_bg "$o" "${cxx[@]}" -I"$S" -I"$ROOT/native/include" -c "$f" -o "$o"
    done
    if [ "$want_tests" = 1 ]; then
        if [ -n "$GTEST_SRC" ]; then
            local G="$GTEST_SRC/googletest"
            gtinc=(-I"$G/include" -I"$G")
            for f in "$G"/src/gtest-all.cc "$G"/src/gtest_main.cc; do
                o="$d/obj/gtest_$(basename "$f").o"; gtest_objs+=("$o")
                compile_bg "$o" "$HOSTCXX" -std=c++17 -O2 -pthread "${gtinc[@]}" -c "$f" -o "$o"
            done
        fi
        local tincs=(-I"$T/common" -I"$T" -I"$S" -I"$ROOT/native/include" "${gtinc[@]}")
        for f in "$T"/common/test_util.cpp "$T"/ops/*/*_harness.cpp; do
            o="$d/obj/test_$(basename "$f").o"; test_common+=("$o")
            compile_bg "$o" "$HOSTCXX" -std=c++17 -O2 -pthread "${tincs[@]}" -c "$f" -o "$o"
        done
        o="$d/obj/test_c_callers.o"; test_common+=("$o")
        compile_bg "$o" cc -std=c99 -O2 -I"$ROOT/native/include" -I"$T/common" -c "$T/common/c_callers.c" -o "$o"
        local t src
        for t in "${TEST_PROGRAMS[@]}"; do
            src=$(first_existing "$T"/ops/*/"${t#engram_}.cpp" "$T/common/${t#engram_}.cpp") || continue
            o="$d/obj/test_$t.o"
            compile_bg "$o" "$HOSTCXX" -std=c++17 -O2 -pthread "${tincs[@]}" -c "$src" -o "$o"
        done
    fi
    # Only our compile jobs: a bare `wait` also waits for the log's tee
    # (a process substitution, bash >= 5.1), which never ends.
    [ ${#COMPILE_PIDS[@]} -eq 0 ] || wait "${COMPILE_PIDS[@]}"
    shopt -u nullglob
    # link: libengram with the static CUDA runtime, as the cmake build does
    local missing=0
    for o in "${lib_objs[@]}"; do [ -f "$o" ] || { missing=1; echo "not built: $o"; }; done
    [ $missing = 0 ] || { cat "$BUILD_LOG".*.log 2>/dev/null | grep -E 'error' -A3 | head -40; return 1; }
    tmo "$HOSTCXX" -shared -o "$LIB_DIR/libengram.so" "${lib_objs[@]}" -Wl,--no-undefined \
        -Wl,--exclude-libs,ALL -L"$CUDA_LIB" -lcudart_static -lpthread -ldl -lrt >>"$BUILD_LOG" 2>&1 || return 1
    ar rcs "$d/obj/libengram_reference.a" "${ref_objs[@]}" 2>>"$BUILD_LOG"
    local ok=1
    for o in "${bench_objs[@]}"; do [ -f "$o" ] || ok=0; done
    if [ $ok = 1 ]; then
        tmo "$HOSTCXX" -o "$BIN_DIR/engram-bench" "${bench_objs[@]}" "$d/obj/libengram_reference.a" "${omp[@]}" \
            -L"$LIB_DIR" -lengram -Wl,-rpath,"$LIB_DIR" -L"$CUDA_LIB" -Wl,-rpath,"$CUDA_LIB" -lcudart -lpthread -ldl \
            >>"$BUILD_LOG" 2>&1 || ok=0
    fi
    [ $ok = 1 ] || echo "engram-bench not built"
    if [ "$want_tests" = 1 ]; then
        local gtlibs=("${gtest_objs[@]}")
        [ -n "$GTEST_SRC" ] || gtlibs=(-lgtest_main -lgtest)
        for t in "${TEST_PROGRAMS[@]}"; do
            o="$d/obj/test_$t.o"
            [ -f "$o" ] || continue
            tmo "$HOSTCXX" -o "$BIN_DIR/$t" "$o" "${test_common[@]}" "$d/obj/libengram_reference.a" "${gtlibs[@]}" \
                -L"$LIB_DIR" -lengram -Wl,-rpath,"$LIB_DIR" -pthread >>"$BUILD_LOG" 2>&1 || echo "$t not linked"
        done
    fi
    cat "$BUILD_LOG".*.log >>"$BUILD_LOG" 2>/dev/null
    rm -f "$BUILD_LOG".*.log
    [ -x "$BIN_DIR/engram-bench" ]
}
