#!/usr/bin/env bash
# CI's short fuzzing pass (about two minutes): installs AFL++ and dtc if missing, builds the harness, replays every
# checked-in regression input, then fuzzes each target for FUZZ_CI_SECONDS (default 30) from the seed corpora.
# Exits non-zero when a regression input or the fuzzer finds a crash or a hang, or when setup fails.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
seconds="${FUZZ_CI_SECONDS:-30}"

need=()
command -v afl-fuzz >/dev/null || need+=(afl++)
command -v dtc >/dev/null || need+=(device-tree-compiler)
command -v xz >/dev/null || need+=(xz-utils)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
dotnet tool restore >/dev/null

export FUZZ_ROOT="$(mktemp -d /tmp/iommulab-fuzz-ci.XXXXXX)"
trap 'rm -rf "$FUZZ_ROOT"' EXIT
fuzz/build.sh "$FUZZ_ROOT/bin"
fuzz/seed.sh "$FUZZ_ROOT/seeds"

echo "== replaying the regression inputs =="
regressions=tests/IommuLab.Tests/Fixtures/regressions
for target in dtb dts acpi; do
  files=()
  for f in "$regressions/$target"-*; do
    case "$f" in *.bin) ;; *) [ -e "$f" ] && files+=("$f") ;; esac
  done
  [ ${#files[@]} -eq 0 ] && continue
  # The fixtures name their /incbin/ files relative to their own folder.
  timeout 120 dotnet "$FUZZ_ROOT/bin/plain/IommuLab.Fuzz.dll" "$target" --replay --in "$regressions" "${files[@]}"
done

echo "== fuzzing each target for ${seconds} s =="
failed=0
for target in dtb dts acpi; do
  FUZZ_SKIP_BUILD=1 FUZZ_STARTUP_S=40 fuzz/run.sh "$target" "$seconds" || { echo "fuzz: $target FAILED" >&2; failed=1; }
  for f in "$FUZZ_ROOT/out/$target"/default/crashes/id:* "$FUZZ_ROOT/out/$target"/default/hangs/id:*; do
    [ -e "$f" ] || continue
    echo "-- $f" >&2
    timeout 30 dotnet "$FUZZ_ROOT/bin/plain/IommuLab.Fuzz.dll" "$target" --replay "$f" >&2 || true
  done
done
exit "$failed"
