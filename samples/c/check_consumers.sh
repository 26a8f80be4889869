#!/usr/bin/env bash
# check_consumers.sh PREFIX WORKDIR — builds and runs samples/c/cce_example.c
# against an Engram installed at PREFIX, twice: through find_package(engram)
# and through pkg-config (engram.pc); and checks that README.md's C snippet is
# this very program, so the README compiles as shown. Prints one line per
# check ("ok <name>" / "FAILED <name>: why") and exits non-zero on a failure.
set -uo pipefail
PREFIX="$1" WORK="$2"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
mkdir -p "$WORK"
status=0
report() { if [ "$2" -eq 0 ]; then echo "ok $1"; else echo "FAILED $1: see $WORK/$1.log"; status=1; fi; }

# README's block after "From C (...):" must equal the sample.
awk '/^From C /{f=1} f&&/^```c$/{p=1;next} p&&/^```$/{exit} p' "$ROOT/README.md" >"$WORK/readme.c"
diff -u "$HERE/cce_example.c" "$WORK/readme.c" >"$WORK/readme_snippet.log" 2>&1
report readme_snippet $?

{
    cmake -S "$HERE" -B "$WORK/find_package" -DCMAKE_PREFIX_PATH="$PREFIX" &&
        cmake --build "$WORK/find_package" &&
        "$WORK/find_package/cce_example"
} >"$WORK/find_package.log" 2>&1
report find_package $?

{
    export PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig"
    # shellcheck disable=SC2046
    cc -std=c99 -Wall -Wextra -Werror "$HERE/cce_example.c" -o "$WORK/cce_example_pc" \
        $(pkg-config --cflags --libs engram) -Wl,-rpath,"$PREFIX/lib" &&
        "$WORK/cce_example_pc"
} >"$WORK/pkg_config.log" 2>&1
report pkg_config $?
# add_subdirectory: configure only (a full build takes minutes on 2 cores):
# Engram's tests and benchmarks must not be configured, and the consumer's
# cache must not get Engram's Release default.
{
    cmake -S "$HERE/subdirectory" -B "$WORK/subdirectory" &&
        ! grep -q 'engram_cce_test\|engram-bench' "$WORK/subdirectory/build.ninja" "$WORK/subdirectory/Makefile" 2>/dev/null &&
        ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release' "$WORK/subdirectory/CMakeCache.txt" &&
        grep -q 'cce_example' "$WORK/subdirectory/Makefile" "$WORK/subdirectory/build.ninja" 2>/dev/null
} >"$WORK/add_subdirectory.log" 2>&1
report add_subdirectory $?
exit $status
