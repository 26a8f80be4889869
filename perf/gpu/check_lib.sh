# check_lib.sh — the clock, the step runner and summary.json of
# perf/gpu/check.sh (sourced; no commands run at load).
#
# Every step function step_<name> ends with `result STATUS REASON`; the
# runner times it, bounds it with its budget and the global deadline, and
# rewrites summary.json before and after it.

# Milliseconds since the epoch without a fork (bash 5), else date(1).
if [ -n "${EPOCHREALTIME:-}" ]; then
    now_ms() { local t="${EPOCHREALTIME/[.,]/}"; echo $((t / 1000)); }
else
    now_ms() { date +%s%3N; }
fi

START_MS=$(now_ms)
STARTED_UTC=$(date -u +%Y-%m-%dT%H:%M:%SZ)
declare -A STATUS SECONDS_TAKEN REASON LIMIT FACT
OVERALL=running
STEP_END_MS=0
CURRENT=""

left_s() { echo $(((START_MS + DEADLINE * 1000 - $(now_ms)) / 1000)); }
step_left() { echo $(((STEP_END_MS - $(now_ms)) / 1000)); }

# Runs a command within what is left of the current step (SIGKILL 5 s after
# SIGTERM); 124 without running it when nothing is left.
tmo() {
    local l
    l=$(step_left)
    [ "$l" -ge 1 ] || return 124
    timeout -k 5 "$l" "$@"
}

say() { printf '==> [%s +%ss] %s\n' "$(date +%T)" "$((($(now_ms) - START_MS) / 1000))" "$*"; }
fact() { FACT[$1]="$2"; }
result() { STATUS[$CURRENT]="$1"; REASON[$CURRENT]="$2"; }
skipped_by_user() { case "$SKIP" in *" $1 "*) return 0 ;; esac; return 1; }

# "" when the GPU steps can run, else why not (DEVICE_WHY is set by preflight).
DEVICE_OK=0
DEVICE_WHY="preflight did not run"
need_device() {  # plan: what the step would run
    [ "$DEVICE_OK" = 1 ] && return 0
    result no_device "no device: $DEVICE_WHY; would run: $1"
    return 1
}

run_step() {
    local name="$1" budget="${BUDGET[$1]}" left limit t0
    CURRENT="$name"
    left=$(left_s)
    limit=$((budget < left - 1 ? budget : left - 1))
    if skipped_by_user "$name"; then
        result skipped "ENGRAM_GPU_SKIP"
        summary_write
        return
    fi
    if [ "$limit" -lt "$MIN_STEP" ]; then
        result skipped "global deadline: ${left} s left of ${DEADLINE} s"
        summary_write
        return
    fi
    LIMIT[$name]=$limit
    STATUS[$name]=running
    REASON[$name]=""
    summary_write
    say "$name (limit ${limit} s)"
    t0=$(now_ms)
    STEP_END_MS=$((t0 + limit * 1000))
    "step_$name"
    local ms=$(($(now_ms) - t0))
    printf -v "SECONDS_TAKEN[$name]" '%d.%03d' $((ms / 1000)) $((ms % 1000))
    if [ "${STATUS[$name]}" = running ]; then
        result failed "step ended without a result (script error)"
    fi
    say "$name: ${STATUS[$name]} (${SECONDS_TAKEN[$name]} s) ${REASON[$name]}"
    summary_write
}

# A JSON string in REPLY: quotes, backslashes and control characters escaped
# (no subshell: the summary is rewritten often, on a loaded machine too).
json_str() {
    local s="$1"
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    s=${s//$'\t'/\\t}
    s=${s//[[:cntrl:]]/}
    REPLY="\"$s\""
}

json_num() { REPLY="${1:-null}"; }

summary_write() {
    local tmp="$OUT/.summary.json.tmp" ms s k sep text
    ms=$(($(now_ms) - START_MS))
    text='{'$'\n''  "schema": "engram-gpu-check/1",'$'\n'
    text+="  \"dry_run\": $([ "$DRY" = 1 ] && echo true || echo false),"$'\n'
    json_str "$OVERALL"; text+="  \"status\": $REPLY,"$'\n'
    json_str "$STARTED_UTC"; text+="  \"started_utc\": $REPLY,"$'\n'
    text+="  \"deadline_s\": $DEADLINE,"$'\n'
    text+="  \"elapsed_s\": $((ms / 1000)).$(printf '%03d' $((ms % 1000))),"$'\n'
    text+='  "facts": {'
    sep=""
    for k in "${!FACT[@]}"; do
        json_str "$k"; text+="$sep"$'\n'"    $REPLY: "
        json_str "${FACT[$k]}"; text+="$REPLY"
        sep=","
    done
    text+=$'\n''  },'$'\n''  "steps": ['
    sep=""
    for s in "${STEPS[@]}"; do
        json_str "$s"; text+="$sep"$'\n'"    {\"name\": $REPLY"
        json_str "${STATUS[$s]:-pending}"; text+=", \"status\": $REPLY"
        json_num "${SECONDS_TAKEN[$s]:-}"; text+=", \"seconds\": $REPLY"
        text+=", \"budget_s\": ${BUDGET[$s]}"
        json_num "${LIMIT[$s]:-}"; text+=", \"limit_s\": $REPLY"
        json_str "${REASON[$s]:-}"; text+=", \"reason\": $REPLY}"
        sep=","
    done
    text+=$'\n''  ]'$'\n''}'
    printf '%s\n' "$text" >"$tmp" && mv -f "$tmp" "$OUT/summary.json"
}

# Killed from outside (the window's own limit): record it before going.
on_signal() {
    [ -n "$CURRENT" ] && [ "${STATUS[$CURRENT]:-}" = running ] && result timeout "interrupted by SIG$1"
    OVERALL=interrupted
    summary_write
    exit 143
}

summary_init() {
    trap 'on_signal TERM' TERM
    trap 'on_signal INT' INT
    fact host "$(uname -n)"
    fact cpus "$(nproc)"
    say "GPU check: deadline ${DEADLINE} s, results in $OUT$([ "$DRY" = 1 ] && echo ' (dry run)')"
    summary_write
}

summary_finish() {
    local s bad=0
    for s in "${STEPS[@]}"; do
        [ "${STATUS[$s]:-pending}" = ok ] || bad=1
    done
    if [ "$DRY" = 1 ]; then
        OVERALL=dry_run
    elif [ "$bad" = 0 ]; then
        OVERALL=ok
    else
        OVERALL=failed
    fi
    summary_write
    say "done: $OVERALL in $(($(($(now_ms) - START_MS)) / 1000)) s; summary: $OUT/summary.json"
    for s in "${STEPS[@]}"; do
        printf '    %-10s %-9s %8s s  %s\n' "$s" "${STATUS[$s]:-pending}" "${SECONDS_TAKEN[$s]:--}" "${REASON[$s]:-}"
    done
    [ "$DRY" = 1 ] || [ "$OVERALL" = ok ]
    exit $?
}
