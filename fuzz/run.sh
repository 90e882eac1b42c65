#!/usr/bin/env bash
# Runs one fuzz target under AFL++ for a set time and reports executions, corpus size, crashes and hangs.
# Usage: fuzz/run.sh TARGET SECONDS     TARGET: dtb | dts | acpi
# Env:   FUZZ_ROOT (default /tmp/iommulab-fuzz): bin/, seeds/, out/TARGET/ live there
#        RESUME=1 continues out/TARGET instead of starting over
#        FUZZ_STARTUP_S (default 120): seconds allowed beyond SECONDS for start-up and calibration
#        FUZZ_TIMEOUT_MS (default 2000): an input running longer is a hang
#        FUZZ_SKIP_BUILD=1 uses the harness already in FUZZ_ROOT/bin (fuzz/build.sh)
# Needs afl++ (apt-get install -y afl++) and the local dotnet tool (dotnet tool restore).
# Exit status: 0 when the run found no crash and no hang, 1 when it did, 2 on a usage or setup error.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
target="${1:-}"
seconds="${2:-}"
case "$target" in dtb|dts|acpi) ;; *) echo "usage: fuzz/run.sh dtb|dts|acpi SECONDS" >&2; exit 2 ;; esac
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: fuzz/run.sh dtb|dts|acpi SECONDS" >&2; exit 2; }
command -v afl-fuzz >/dev/null || { echo "run: afl-fuzz not found (apt-get install -y afl++)" >&2; exit 2; }

root="${FUZZ_ROOT:-/tmp/iommulab-fuzz}"
[ "${FUZZ_SKIP_BUILD:-0}" = 1 ] || "$repo/fuzz/build.sh" "$root/bin" >&2
[ -d "$root/seeds/$target" ] || "$repo/fuzz/seed.sh" "$root/seeds" >&2

out="$root/out/$target"
input=("-i" "$root/seeds/$target")
if [ "${RESUME:-0}" = 1 ] && [ -d "$out/default" ]; then
  input=("-i" "-")
else
  rm -rf "$out"
fi
mkdir -p "$out"

# AFL++ cannot see instrumentation in the dotnet host; SharpFuzz's fork server provides it.
# A 512 MiB managed heap turns an unbounded allocation into an OutOfMemoryException: a crash.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
  AFL_NO_AFFINITY=1 AFL_FORKSRV_INIT_TMOUT=60000 AFL_IGNORE_SEED_PROBLEMS=1 \
  DOTNET_GCHeapHardLimit=20000000 DOTNET_TieredPGO=0 DOTNET_TC_QuickJitForLoops=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
status=0
timeout --kill-after=10 $((seconds + ${FUZZ_STARTUP_S:-120})) \
  afl-fuzz "${input[@]}" -o "$out" -V "$seconds" -t "${FUZZ_TIMEOUT_MS:-2000}" -m none \
  -x "$repo/fuzz/dict/$target.dict" -- dotnet "$root/bin/afl/IommuLab.Fuzz.dll" "$target" > "$out/afl.log" 2>&1 || status=$?

stats="$out/default/fuzzer_stats"
if [ ! -f "$stats" ]; then
  echo "run: afl-fuzz exited with $status before writing statistics; the end of $out/afl.log:" >&2
  tail -n 30 "$out/afl.log" >&2
  exit 2
fi
get() { awk -F': *' -v k="$1" '$1 ~ "^"k" *$" {print $2}' "$stats"; }
crashes=$(get saved_crashes)
hangs=$(get saved_hangs)
echo "target=$target run_time_s=$(get run_time) execs=$(get execs_done) execs_per_sec=$(get execs_per_sec)" \
  "corpus=$(get corpus_count) crashes=$crashes hangs=$hangs stability=$(get stability) out=$out"
for f in "$out"/default/crashes/id:* "$out"/default/hangs/id:*; do
  [ -e "$f" ] && echo "finding: $f"
done
[ "$crashes" = 0 ] && [ "$hangs" = 0 ]
