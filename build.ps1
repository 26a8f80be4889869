# build.ps1 — Engram's one entry point on Windows; mirrors build.sh.
#
#   .\build.ps1            check prerequisites, build native + managed
#   .\build.ps1 test       build, then native tests and managed tests;
#                          ends with "N passed, N failed, N skipped"
#   .\build.ps1 run        build, then `engram run` (verify + benchmark of CCE)
#   .\build.ps1 bench ...  build, then `engram bench ...`
#   .\build.ps1 prereqs    only check/install prerequisites
#   .\build.ps1 clean      remove build directories
#
# Environment: ENGRAM_CUDA=auto|on|off, ENGRAM_BUILD_DIR (default .\build),
# ENGRAM_SKIP_PREREQS=1. Sanitizer builds are Linux-only (build.sh).
param([Parameter(Position = 0)][string]$Command = "build",
      [Parameter(ValueFromRemainingArguments = $true)][string[]]$Rest)
$ErrorActionPreference = "Stop"

$Root = $PSScriptRoot
$BuildDir = if ($env:ENGRAM_BUILD_DIR) { $env:ENGRAM_BUILD_DIR } else { Join-Path $Root "build" }
$CudaMode = if ($env:ENGRAM_CUDA) { $env:ENGRAM_CUDA } else { "auto" }
$Config = "Release"
$env:DOTNET_CLI_TELEMETRY_OPTOUT = "1"; $env:DOTNET_NOLOGO = "1"

function Say([string]$m) { Write-Host "==> $m" }
function Die([string]$m) { Write-Error "build.ps1: $m"; exit 1 }
function Has([string]$exe) { [bool](Get-Command $exe -ErrorAction SilentlyContinue) }

function Install-Prereqs {
    if ($env:ENGRAM_SKIP_PREREQS -eq "1") { return }
    # winget installs what is missing: CMake, Ninja, the VS C++ build tools.
    $want = @()
    if (-not (Has cmake)) { $want += "Kitware.CMake" }
    if (-not (Has ninja)) { $want += "Ninja-build.Ninja" }
    if (-not (Has cl)) { $want += "Microsoft.VisualStudio.2022.BuildTools" }
    foreach ($id in $want) {
        if (-not (Has winget)) { Die "missing $id and no winget: install it by hand" }
        Say "installing $id (winget)"
        winget install --silent --accept-package-agreements --accept-source-agreements --id $id
    }
    if ($CudaMode -eq "on" -and -not (Has nvcc)) {
        Die "ENGRAM_CUDA=on but nvcc is missing: install the CUDA Toolkit (winget install Nvidia.CUDA)"
    }
    $sdks = if (Has dotnet) { & dotnet --list-sdks } else { @() }
    if (-not ($sdks -match "^10\.")) {
        Die "the .NET 10 SDK is missing. Install it (winget install Microsoft.DotNet.SDK.10), then run .\build.ps1 again."
    }
}

function Configure-Native([string]$Dir, [string[]]$Extra) {
    $gen = if (Has ninja) { @("-G", "Ninja") } else { @() }
    $cuda = @("-DENGRAM_WITH_CUDA=OFF")
    if ($CudaMode -ne "off" -and (Has nvcc)) {
        $cuda = @("-DENGRAM_WITH_CUDA=" + $(if ($CudaMode -eq "on") { "ON" } else { "AUTO" }))
    }
    if (-not (Test-Path (Join-Path $Dir "CMakeCache.txt"))) {
        Say "configuring $(Split-Path $Dir -Leaf) (cmake)"
        & cmake -S $Root -B $Dir @gen "-DCMAKE_BUILD_TYPE=$Config" @cuda @Extra
        if ($LASTEXITCODE -ne 0) { Die "cmake configure failed" }
    }
}

function Build-Native {
    Configure-Native $BuildDir @()
    Say "building libengram, native tests and engram-bench"
    & cmake --build $BuildDir --config $Config -j $env:NUMBER_OF_PROCESSORS
    if ($LASTEXITCODE -ne 0) { Die "native build failed" }
}

function Native-Dir { if (Test-Path (Join-Path $BuildDir "bin\engram.dll")) { Join-Path $BuildDir "bin" } else { Join-Path $BuildDir "lib" } }

function Build-Managed {
    Say "restoring NuGet packages and building the .NET layer and the engram CLI"
    & dotnet build (Join-Path $Root "Engram.slnx") -c $Config "-p:EngramNativeDir=$(Native-Dir)" `
        "-p:EngramBenchPath=$(Join-Path $BuildDir 'bin\engram-bench.exe')" -nologo -v quiet -clp:ErrorsOnly
    if ($LASTEXITCODE -ne 0) { Die "managed build failed" }
}

function Engram-Cli([string[]]$CliArgs) {
    $dll = Join-Path $Root "managed\Engram.Cli\bin\$Config\net10.0\engram.dll"
    if (-not (Test-Path $dll)) { Die "engram CLI not built ($dll missing)" }
    $env:ENGRAM_NATIVE_PATH = Native-Dir
    $env:ENGRAM_BENCH = Join-Path $BuildDir "bin\engram-bench.exe"
    & dotnet $dll @CliArgs
    exit $LASTEXITCODE
}

function Build-All { Install-Prereqs; Build-Native; Build-Managed }

function Test-All {
    Build-All
    $passed = 0; $failed = 0; $skipped = 0
    Say "native tests"
    $junit = Join-Path $BuildDir "ctest-junit.xml"
    & ctest --test-dir $BuildDir -C $Config --output-on-failure --output-junit $junit | Out-Host
    if (Test-Path $junit) {
        [xml]$x = Get-Content $junit
        $t = [int]$x.testsuite.tests; $f = [int]$x.testsuite.failures; $s = [int]$x.testsuite.skipped
        $passed += $t - $f - $s; $failed += $f; $skipped += $s
    } else { $failed += 1 }
    Say "managed tests (NUnit)"
    $env:ENGRAM_NATIVE_PATH = Native-Dir
    $out = & dotnet test (Join-Path $Root "tests\Engram.Tests") -c $Config "-p:EngramNativeDir=$(Native-Dir)" -nologo 2>&1
    $out | Out-Host
    $line = ($out | Select-String -Pattern "(Passed|Failed)!.*Total:" | Select-Object -Last 1)
    if ($line) {
        $l = $line.Line
        $failed += [int]([regex]::Match($l, "Failed:\s*(\d+)").Groups[1].Value)
        $passed += [int]([regex]::Match($l, "Passed:\s*(\d+)").Groups[1].Value)
        $skipped += [int]([regex]::Match($l, "Skipped:\s*(\d+)").Groups[1].Value)
    } else { $failed += 1 }
    $summary = "$passed passed, $failed failed"
    if ($skipped -gt 0) { $summary += ", $skipped skipped" }
    Write-Host $summary
    if ($failed -gt 0) { exit 1 }
}

switch ($Command) {
    "build" { Build-All }
    "prereqs" { Install-Prereqs }
    "test" { Test-All }
    "run" { Build-All; Engram-Cli (@("run") + $Rest) }
    "bench" { Build-All; Engram-Cli (@("bench") + $Rest) }
    "clean" { Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $BuildDir, (Join-Path $Root "build-asan") }
    default { Die "unknown command '$Command' (build, test, run, bench, prereqs, clean)" }
}
