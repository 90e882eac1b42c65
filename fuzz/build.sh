#!/usr/bin/env bash
# Publishes the fuzz harness twice: DIR/afl with IommuLab.Firmware.dll instrumented by SharpFuzz (for afl-fuzz
# and afl-tmin only: instrumented code crashes outside AFL), and DIR/plain for replaying inputs.
# Usage: fuzz/build.sh DIR
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:?usage: fuzz/build.sh DIR}"
cd "$repo"
dotnet tool restore >/dev/null
# Fresh folders each time: SharpFuzz must never instrument an already instrumented copy.
rm -rf "$dir/afl" "$dir/plain"
dotnet publish fuzz/IommuLab.Fuzz -c Release -o "$dir/plain" --nologo -v quiet >/dev/null
cp -r "$dir/plain" "$dir/afl"
dotnet sharpfuzz "$dir/afl/IommuLab.Firmware.dll" >/dev/null
echo "build: harness in $dir/plain, instrumented copy in $dir/afl"
