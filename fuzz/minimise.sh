#!/usr/bin/env bash
# Minimises one crashing or hanging input with afl-tmin, then replays the result on the plain harness.
# Usage: fuzz/minimise.sh TARGET INPUT OUTPUT    (run fuzz/build.sh or fuzz/run.sh first)
set -euo pipefail
target="${1:?usage: fuzz/minimise.sh TARGET INPUT OUTPUT}"
input="${2:?usage: fuzz/minimise.sh TARGET INPUT OUTPUT}"
output="${3:?usage: fuzz/minimise.sh TARGET INPUT OUTPUT}"
root="${FUZZ_ROOT:-/tmp/iommulab-fuzz}"
export AFL_SKIP_BIN_CHECK=1 AFL_FORKSRV_INIT_TMOUT=60000 DOTNET_GCHeapHardLimit=20000000
# -H keeps hangs hanging while minimising (a time-out is the finding then).
mode=()
case "$input" in */hangs/*) mode=(-H) ;; esac
afl-tmin "${mode[@]}" -i "$input" -o "$output" -t "${FUZZ_TIMEOUT_MS:-2000}" -m none -- \
  dotnet "$root/bin/afl/IommuLab.Fuzz.dll" "$target" > /dev/null
echo "minimise: $(stat -c %s "$input") -> $(stat -c %s "$output") bytes"
dotnet "$root/bin/plain/IommuLab.Fuzz.dll" "$target" --replay "$output" | head -n 4 || true
