#!/usr/bin/env bash
# run-all.sh [KERNEL...]: fetch (cached), then boot every configuration in configs/ on each kernel (default: k612 k7),
# one QEMU at a time, writing results/CONFIG.KERNEL.json, then model.sh for each (results/CONFIG.KERNEL.model.json;
# SKIP_MODEL=1 skips it), then prints the summary table. Exit 1 if any boot or model run failed.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$HERE/fetch.sh" > /dev/null
kernels=("$@")
[[ ${#kernels[@]} -gt 0 ]] || kernels=(k612 k7)
failed=0
for conf in "$HERE"/configs/*.conf; do
  for k in "${kernels[@]}"; do
    if ! "$HERE/boot.sh" "$conf" "$k"; then
      echo "run-all.sh: $(basename "$conf" .conf) on $k failed" >&2
      failed=1
      continue
    fi
    if [[ "${SKIP_MODEL:-0}" != 1 ]] && ! "$HERE/model.sh" "$conf" "$k"; then
      echo "run-all.sh: model of $(basename "$conf" .conf) on $k failed" >&2
      failed=1
    fi
  done
done
"$HERE/summarize.sh"
exit "$failed"
