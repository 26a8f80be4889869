#!/usr/bin/env bash
# check_package.sh — the .NET packages as a user gets them. Packs Engram and Engram.Cli
# into a local feed, then, from a clean folder outside the repository and with no
# ENGRAM_* variable set: restores samples/dotnet/CceSample from that feed and runs it
# (build output, framework-dependent, self-contained and single-file publishes), and
# installs the CLI as a .NET tool and runs `engram info`. Prints one "ok <what>" or
# "FAIL <what>: <why>" line per check; build.sh counts them.
#
#   samples/dotnet/check_package.sh REPO_ROOT NATIVE_LIB_DIR WORK_DIR
set -uo pipefail

root="$1" native="$2" work="$3"
feed="$work/feed" app="$work/app" tools="$work/tools" log="$work/log"
version=$(sed -nE 's/^#define ENGRAM_VERSION_STRING "([0-9.]+)"/\1/p' "$root/native/include/engram.h")
rid=linux-x64
rm -rf "$work"; mkdir -p "$feed" "$log"
unset ENGRAM_NATIVE_PATH ENGRAM_BENCH ENGRAM_LIBRARY_PATH

ok() { echo "ok $*"; }
fail() { echo "FAIL $*"; }
run() {  # name, command...: ok/FAIL with the log's tail
    local name="$1"; shift
    if "$@" >"$log/$name.log" 2>&1; then return 0; fi
    fail "$name: exit $? ($(tail -3 "$log/$name.log" | tr '\n' ' ' | cut -c1-300))"
    return 1
}

# --- pack ----------------------------------------------------------------------------
commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
for proj in managed/Engram/Engram.csproj managed/Engram.Cli/Engram.Cli.csproj; do
    run "pack-$(basename "$proj" .csproj)" dotnet pack "$root/$proj" -c Release -o "$feed" \
        -p:EngramNativeDir="$native" -p:RepositoryCommit="$commit" -nologo || exit 0
done
pkg="$feed/Engram.$version.nupkg" tool="$feed/Engram.Cli.$version.nupkg"
if [ -f "$pkg" ] && [ -f "$tool" ] && [ -f "$feed/Engram.$version.snupkg" ]; then
    ok "packed Engram $version, Engram.Cli $version and the symbols package"
else
    fail "packages: expected Engram.$version.nupkg, Engram.Cli.$version.nupkg, Engram.$version.snupkg in $(ls "$feed" | tr '\n' ' ')"
    exit 0
fi

# The package: native asset, metadata, and no path of this machine in the assembly.
list=$(python3 -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$pkg")
nuspec=$(python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(z.read([n for n in z.namelist() if n.endswith(".nuspec")][0]).decode())' "$pkg")
if grep -qx "runtimes/$rid/native/libengram.so" <<<"$list" && grep -qx "lib/net10.0/Engram.Core.dll" <<<"$list" \
    && grep -q "<license type=\"expression\">MIT</license>" <<<"$nuspec" && grep -q "<readme>README.md</readme>" <<<"$nuspec" \
    && ! grep -q "Package Description" <<<"$nuspec"; then
    ok "Engram.$version.nupkg holds runtimes/$rid/native/libengram.so, the assembly, license and readme"
else
    fail "Engram.$version.nupkg content or metadata: $(tr '\n' ' ' <<<"$list" | cut -c1-300)"
fi
python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("lib/net10.0/Engram.Core.dll"))' \
    "$pkg" "$work/Engram.Core.dll"
if grep -qa "$root" "$work/Engram.Core.dll" || grep -qa "$native" "$work/Engram.Core.dll"; then
    fail "the packed Engram.Core.dll names this machine's paths ($root)"
else
    ok "the packed assembly names no path of the packing machine"
fi

# --- a user's application, outside the repository ----------------------------------
# Only this feed's Engram packages are dropped from the NuGet cache, so that the
# restore takes what was just packed; everything else comes from the usual sources.
cache=$(dotnet nuget locals global-packages -l | sed -E 's/^global-packages: //')
rm -rf "$cache/engram/$version" "$cache/engram.cli/$version"
mkdir -p "$app"
cp -r "$root/samples/dotnet/." "$app/"
cat >"$app/nuget.config" <<CFG
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="engram-local" value="$feed" />
  </packageSources>
</configuration>
CFG
proj="$app/CceSample/CceSample.csproj"
if run build dotnet build "$proj" -c Release -p:EngramVersion="$version" -nologo \
    && run run-build dotnet "$app/CceSample/bin/Release/net10.0/CceSample.dll"; then
    ok "CceSample restored from the local feed and ran ($(grep -o 'loss [^,]*' "$log/run-build.log" | head -1))"
fi
for mode in framework-dependent self-contained single-file; do
    out="$app/publish-$mode" args=(-r "$rid" -o "$out")
    case "$mode" in
        framework-dependent) args+=(--self-contained false) ;;
        self-contained) args+=(--self-contained true) ;;
        single-file) args+=(--self-contained true -p:PublishSingleFile=true) ;;
    esac
    if run "publish-$mode" dotnet publish "$proj" -c Release -p:EngramVersion="$version" -nologo "${args[@]}" \
        && run "run-$mode" "$out/CceSample"; then
        ok "CceSample published $mode and ran"
    fi
done

# --- the CLI as a .NET tool ----------------------------------------------------------------
if run tool-install dotnet tool install Engram.Cli --version "$version" --tool-path "$tools" --add-source "$feed" \
    && run tool-info "$tools/engram" info; then
    if grep -q "libengram" "$log/tool-info.log"; then
        ok "dotnet tool install Engram.Cli; engram info loads libengram ($(grep -o 'libengram [0-9.]*' "$log/tool-info.log" | head -1))"
    else
        fail "engram info (tool): $(head -3 "$log/tool-info.log" | tr '\n' ' ')"
    fi
fi
