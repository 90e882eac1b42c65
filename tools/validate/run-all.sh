#!/usr/bin/env bash
# run-all.sh [KERNEL...]: fetch (cached), then boot every configuration in configs/ (or those named in CONFIGS="a b")
# on each kernel (default: k612 k7), one QEMU at a time, writing results/CONFIG.KERNEL.json, then model.sh for each
# (results/CONFIG.KERNEL.model.json; SKIP_MODEL=1 skips it), then prints the summary table.
# IOMMULAB_VALIDATE_RESULTS=DIR writes the results there instead of tools/validate/results (CI).
# Exit 1 if any boot or model run failed, or if the model disagrees with a real kernel on any row.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$HERE/fetch.sh" > /dev/null
kernels=("$@")
[[ ${#kernels[@]} -gt 0 ]] || kernels=(k612 k7)
confs=()
if [[ -n "${CONFIGS:-}" ]]; then
  for c in $CONFIGS; do confs+=("$HERE/configs/$c.conf"); done
else
  confs=("$HERE"/configs/*.conf)
fi
failed=0
for conf in "${confs[@]}"; do
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
table="$("$HERE/summarize.sh")"
printf '%s\n' "$table"
if [[ "${SKIP_MODEL:-0}" != 1 ]]; then
  disagree="$(printf '%s\n' "$table" | tail -n +3 | grep -v '| yes |$' || true)"
  if [[ -n "$disagree" ]]; then
    echo "run-all.sh: the model disagrees with the real kernel on:" >&2
    printf '%s\n' "$disagree" | cut -d'|' -f2,3,9 >&2
    failed=1
  fi
fi
exit "$failed"
