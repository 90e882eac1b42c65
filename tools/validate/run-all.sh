#!/usr/bin/env bash
# run-all.sh [KERNEL...]: fetch (cached), then boot every configuration in configs/ on each kernel (default: k612 k7),
# one QEMU at a time, writing results/CONFIG.KERNEL.json. Exit 1 if any boot produced no result.
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
    fi
  done
done
exit "$failed"
