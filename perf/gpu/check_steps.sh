# check_steps.sh — the GPU steps of perf/gpu/check.sh (sourced). Each builds
# its command first (so a dry run reports exactly what would run), then asks
# need_device, then runs within its step's time (tmo).

BENCH_SIZE=(--n 8192 --v 256000 --d 2304)
[ "${ENGRAM_GPU_QUICK:-0}" = 1 ] && BENCH_SIZE=(--n 4096 --v 65536 --d 2048)

bench_bin() { echo "${BIN_DIR:-$BUILD/bin}/engram-bench"; }

# Three runs, most valuable first; bench-gpu.json is the merge of those done
# so far, rewritten after each (engram-bench writes its file at its end):
#   1. the naive cuBLAS method, engram's forward and fused forward+backward,
#      with the device's limits (probes);  2. exact;  3. the filtered variants.
step_bench() {
    local bench
    bench=$(bench_bin)
    local common=(cce --backend cuda "${BENCH_SIZE[@]}" --dtype bf16 --reps 5 --warmup 2 --samples 8)
    local runs=("--variants fused" "--variants exact --no-naive --no-probes"
                "--variants filtered,fused-filtered --no-naive --no-probes")
    need_device "$bench ${common[*]} {${runs[0]} | ${runs[1]} | ${runs[2]}}" || return
    [ -x "$bench" ] || { result failed "engram-bench was not built"; return; }
    rm -f "$OUT"/bench-gpu*.json
    local i parts=() failed=() rc
    for i in 0 1 2; do
        local part="$OUT/bench-gpu-part$((i + 1)).json"
        # shellcheck disable=SC2086
        tmo "$bench" "${common[@]}" ${runs[$i]} --json "$part" 2>&1 | tee -a "$OUT/bench.log"
        rc=${PIPESTATUS[0]}
        [ $rc -eq 0 ] || failed+=("run $((i + 1)) (${runs[$i]%% --*}): exit $rc")
        if [ -s "$part" ]; then
            parts+=("$part")
            python3 "$HERE/gpu_json.py" merge "$OUT/bench-gpu.json" "${parts[@]}"
        fi
        [ $rc -eq 124 ] && break
    done
    if [ ${#failed[@]} -eq 0 ]; then
        result ok "3 runs, $(grep -c '"op"' "$OUT/bench-gpu.json" 2>/dev/null || echo 0) cases in bench-gpu.json"
    else
        local IFS=';'
        result "$([ "$(step_left)" -le 0 ] && echo timeout || echo failed)" "${failed[*]}"
    fi
}

# Every CUDA case of the test programs; a skipped case is a failure (a CUDA
# case skips when the device or driver is unusable: a green run with no case
# run is what this check exists to prevent).
CUDA_FILTER='*CUDA*:*Cuda*:*cuda*'
step_cuda_tests() {
    local progs=() t
    for t in "${TEST_PROGRAMS[@]}"; do [ -x "${BIN_DIR:-$BUILD/bin}/$t" ] && progs+=("$t"); done
    if [ ${#progs[@]} -eq 0 ] && [ "$DRY" = 1 ] && { [ -n "$GTEST_SRC" ] || [ "$GTEST_SYS" = 1 ]; }; then
        need_device "${TEST_PROGRAMS[*]} (once built) --gtest_filter='$CUDA_FILTER'"
        return
    fi
    if [ ${#progs[@]} -eq 0 ]; then
        local why="no test program built (GoogleTest: ${FACT[gtest]:-unknown})"
        need_device "the Python binding's CUDA tests ($why)" || return
        python_cuda_tests "$why"
        return
    fi
    need_device "${progs[*]} --gtest_filter='$CUDA_FILTER'" || return
    local total=0 failed=0 skipped=0 bad=() n f s rc
    for t in "${progs[@]}"; do
        local xml="$OUT/gtest-$t.xml"
        rm -f "$xml"
        tmo "${BIN_DIR}/$t" --gtest_filter="$CUDA_FILTER" --gtest_output="xml:$xml" --gtest_brief=1 \
            >>"$OUT/cuda_tests.log" 2>&1
        rc=$?
        if [ -f "$xml" ] && read -r n f s < <(python3 "$HERE/gpu_json.py" gtest "$xml"); then
            total=$((total + n)) failed=$((failed + f)) skipped=$((skipped + s))
            [ $rc -eq 0 ] || [ "$f" -gt 0 ] || bad+=("$t exit $rc")
        else
            bad+=("$t exit $rc, no report")
        fi
        [ $rc -eq 124 ] && { bad+=("time ran out"); break; }
    done
    local line="$total CUDA cases: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
    if [ $total -gt 0 ] && [ $failed -eq 0 ] && [ $skipped -eq 0 ] && [ ${#bad[@]} -eq 0 ]; then
        result ok "$line"
    else
        [ $total -eq 0 ] && bad+=("no CUDA case ran")
        local IFS=';'
        result failed "$line${bad[*]:+; ${bad[*]}} (cuda_tests.log)"
    fi
}

# Without GoogleTest: the Python binding's CUDA test class, which runs CCE on
# CUDA tensors through libengram against a float64 reference.
python_cuda_tests() {
    local why="$1" log="$OUT/cuda_tests.log" ran skipped fails
    (cd "$ROOT/python" && tmo env ENGRAM_LIBRARY_PATH="${LIB_DIR:-$BUILD/lib}" python3 -m unittest \
        discover -s tests -t . -k LinearCrossEntropyCudaTest >"$log" 2>&1)
    ran=$(grep -oE '^Ran [0-9]+' "$log" | grep -oE '[0-9]+' || echo 0)
    skipped=$(grep -oE 'skipped=[0-9]+' "$log" | grep -oE '[0-9]+' || echo 0)
    fails=$(($(grep -oE 'failures=[0-9]+' "$log" | grep -oE '[0-9]+' || echo 0) + \
             $(grep -oE 'errors=[0-9]+' "$log" | grep -oE '[0-9]+' || echo 0)))
    if [ "$ran" -gt 0 ] && [ "$skipped" -eq 0 ] && [ "$fails" -eq 0 ] && grep -q '^OK' "$log"; then
        result failed "$why; Python CUDA tests: $ran passed (native CUDA cases not run)"
    else
        result failed "$why; Python CUDA tests: $ran ran, $fails failed, $skipped skipped (cuda_tests.log)"
    fi
}

# PyTorch's materialised loss at the bench size, one op per run (each
# written when done), then the engram/PyTorch ratio per op.
step_torch() {
    local cmd=(python3 "$HERE/torch_cce.py" "${BENCH_SIZE[@]}" --dtype bf16 --reps 5 --warmup 2 --device cuda)
    need_device "${cmd[*]} --ops forward|forward_backward" || return
    local op parts=() failed=()
    rm -f "$OUT"/torch-gpu*.json
    for op in forward forward_backward; do
        local part="$OUT/torch-gpu-$op.json"
        tmo "${cmd[@]}" --ops "$op" --out "$part" 2>&1 | tee -a "$OUT/torch.log"
        local rc=${PIPESTATUS[0]}
        if [ $rc -ne 0 ] || [ ! -s "$part" ] || grep -q '"skipped"' "$part"; then
            failed+=("$op: exit $rc$(grep -o '"skipped": *"[^"]*"' "$part" 2>/dev/null | sed 's/^/, /')")
        else
            parts+=("$part")
            python3 "$HERE/gpu_json.py" merge "$OUT/torch-gpu.json" "${parts[@]}"
        fi
        [ $rc -eq 124 ] && break
    done
    # Engram through the Python binding against PyTorch on the same CUDA tensors:
    # checked (loss and gradients), then timed (binding_vs_torch.py).
    tmo env ENGRAM_LIBRARY_PATH="${LIB_DIR:-$BUILD/lib}" python3 "$HERE/binding_vs_torch.py" "${BENCH_SIZE[@]}" \
        --dtype bf16 --reps 2 --warmup 1 --device cuda --out "$OUT/binding-vs-torch.json" >>"$OUT/torch.log" 2>&1
    local brc=$?
    [ $brc -ne 0 ] && failed+=("binding_vs_torch: exit $brc")
    local cmp=""
    if [ -s "$OUT/bench-gpu.json" ] && [ -s "$OUT/torch-gpu.json" ]; then
        python3 "$HERE/gpu_json.py" compare "$OUT/bench-gpu.json" "$OUT/torch-gpu.json" \
            "$OUT/compare-gpu.json" | tee "$OUT/compare-gpu.txt"
        cmp="; engram/torch ratios in compare-gpu.txt"
    fi
    if [ ${#failed[@]} -eq 0 ]; then
        result ok "forward and forward_backward in torch-gpu.json, binding vs torch on the same tensors in binding-vs-torch.json$cmp"
    else
        local IFS=';'
        result failed "${failed[*]}$cmp (torch.log)"
    fi
}

# compute-sanitizer on tiny problems through engram-bench (no GoogleTest
# needed): bf16 with d = 40 (16-byte cp.async tile loads) and f32 with d = 37
# (element-wise loads), every variant, forward and backward kernels.
sanitize() {  # tool
    local tool="$1" bench sanitizer="${FACT[tool_compute_sanitizer]:-missing}"
    [ "$sanitizer" = missing ] && sanitizer="compute-sanitizer(not found)"
    bench=$(bench_bin)
    local cases=("--dtype bf16 --d 40" "--dtype f32 --d 37")
    local cmd=("$sanitizer" --tool "$tool" --error-exitcode 99 --print-limit 20)
    local args=(cce --backend cuda --n 67 --v 517 --reps 1 --warmup 0 --samples 4 --no-naive --no-probes)
    need_device "${cmd[*]} $bench ${args[*]} {${cases[0]} | ${cases[1]}}" || return
    [ -x "$sanitizer" ] || { result failed "compute-sanitizer not found"; return; }
    [ -x "$bench" ] || { result failed "engram-bench was not built"; return; }
    local c rc bad=() log="$OUT/$tool.log"
    : >"$log"
    for c in "${cases[@]}"; do
        # shellcheck disable=SC2086
        tmo "${cmd[@]}" "$bench" "${args[@]}" $c >>"$log" 2>&1
        rc=$?
        [ $rc -eq 0 ] || bad+=("${c%% --d*}: exit $rc$([ $rc = 99 ] && echo ' (errors reported)')")
        [ $rc -eq 124 ] && break
    done
    if [ ${#bad[@]} -eq 0 ]; then
        result ok "$(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | sort | uniq -c | tr -s ' ' | paste -sd';')"
    else
        local IFS=';'
        result failed "${bad[*]}: $(grep -E '^=========' "$log" | grep -v 'COMPUTE-SANITIZER$' | head -3 | tr -s ' ' | paste -sd' ') ($tool.log)"
    fi
}
step_memcheck() { sanitize memcheck; }
step_racecheck() { sanitize racecheck; }
step_synccheck() { sanitize synccheck; }

# One Nsight Compute pass: the first forward and backward tile launches of a
# mid-size bf16 run, speed of light, occupancy and launch statistics.
step_ncu() {
    local ncu="${FACT[tool_ncu]:-missing}" bench
    [ "$ncu" = missing ] && ncu="ncu(not found)"
    bench=$(bench_bin)
    local cmd=("$ncu" --target-processes all --kernel-name-base function
               --kernel-name "regex:cce_(forward|backward)_tiles" --launch-count 2
               --section SpeedOfLight --section Occupancy --section LaunchStats
               -f -o "$OUT/ncu-cce"
               "$bench" cce --backend cuda --n 4096 --v 32768 --d 2304 --dtype bf16 --reps 1 --warmup 0
               --samples 4 --no-naive --no-probes --variants fused)
    need_device "${cmd[*]}" || return
    [ -x "$ncu" ] || { result failed "ncu not found"; return; }
    [ -x "$bench" ] || { result failed "engram-bench was not built"; return; }
    tmo "${cmd[@]}" >"$OUT/ncu.log" 2>&1
    local rc=$?
    if [ $rc -ne 0 ] || [ ! -s "$OUT/ncu-cce.ncu-rep" ]; then
        result "$([ $rc = 124 ] && echo timeout || echo failed)" \
            "exit $rc: $(grep -E '==ERROR==|ERR_' "$OUT/ncu.log" | head -2 | paste -sd' ') (ncu.log)"
        return
    fi
    tmo "$ncu" --import "$OUT/ncu-cce.ncu-rep" --csv --page details >"$OUT/ncu-cce.csv" 2>>"$OUT/ncu.log"
    result ok "ncu-cce.ncu-rep, $(grep -c 'cce_' "$OUT/ncu-cce.csv" 2>/dev/null || echo 0) metric rows in ncu-cce.csv"
}
