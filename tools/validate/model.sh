#!/usr/bin/env bash
# model.sh CONFIG KERNEL: feed the DTB QEMU generated for CONFIG (by boot.sh), the PCI list the real kernel
# enumerated and the configuration's MODEL_SCHEDULE to `iommulab run` under the profile matching KERNEL, and write
# a small summary as tools/validate/results/CONFIG.KERNEL.model.json (per PCI function: class, group, IOMMU).
#
#   k612 -> K611 with Debian 6.12.117's stable backports (docs/profiles.md):
#           --set ConfigureCleanup=FreeDevIommuIfAllocated --set UseDefaultDomainDefers=true
#   k7   -> K616 with c41e2fb67e26 (after v6.18: ACS enabled by pci_dma_configure()):
#           --set PciAcsAtDmaConfigure=true
#
# The .conf file may set MODEL_SCHEDULE (events in the model's notation; PCI functions are named
# pcie@10000000:BB:DD.F, the SMMUv3 smmuv3@9050000) and MODEL_ARGS=(...) (extra `run` options), or
# MODEL_UNSUPPORTED="reason" when the model cannot take the configuration yet. Set IOMMULAB to an
# iommulab binary to skip the build (default: build src/IommuLab.Cli in Release into the cache folder).
set -euo pipefail

[[ $# -eq 2 ]] || { echo "usage: $0 CONFIG KERNEL   (KERNEL: k612 | k7)" >&2; exit 2; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RESULTS="${IOMMULAB_VALIDATE_RESULTS:-$HERE/results}"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${IOMMULAB_VALIDATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommulab-validate}"
conf="$1"
kernel="$2"
[[ -f "$conf" ]] || conf="$HERE/configs/$1.conf"
[[ -f "$conf" ]] || { echo "model.sh: no configuration '$1'" >&2; exit 2; }
name="$(basename "$conf" .conf)"
real="$RESULTS/$name.$kernel.json"
dtb="$CACHE/out/$name.$kernel/virt.dtb"
[[ -f "$real" && -f "$dtb" ]] || { echo "model.sh: run boot.sh $name $kernel first" >&2; exit 2; }

MODEL_SCHEDULE="" MODEL_ARGS=() MODEL_UNSUPPORTED=""
# shellcheck source=/dev/null
source "$conf"

# A configuration the model cannot take yet says why (MODEL_UNSUPPORTED); the summary records the reason.
if [[ -n "$MODEL_UNSUPPORTED" ]]; then
  jq -n --arg config "$name" --arg kernel "$kernel" --arg reason "$MODEL_UNSUPPORTED" \
    '{ config: $config, kernel: $kernel, unsupported: $reason }' > "$RESULTS/$name.$kernel.model.json"
  echo "model.sh: $name not modelled: $MODEL_UNSUPPORTED" >&2
  exit 0
fi

case "$kernel" in
  k612) profile=(-p K611 --set ConfigureCleanup=FreeDevIommuIfAllocated --set UseDefaultDomainDefers=true) ;;
  k7) profile=(-p K616 --set PciAcsAtDmaConfigure=true) ;;
  *) echo "model.sh: unknown kernel '$kernel'" >&2; exit 2 ;;
esac

cli="${IOMMULAB:-}"
if [[ -z "$cli" ]]; then
  cli="$CACHE/cli/iommulab"
  if [[ ! -x "$cli" ]] || [[ -n "$(find "$REPO/src" -name '*.cs' -newer "$cli" -print -quit)" ]]; then
    dotnet build "$REPO/src/IommuLab.Cli" -c Release -v q -nologo -o "$CACHE/cli" > /dev/null
  fi
fi

args=("${profile[@]}" --pci "$(jq .real "$real" | jq -r -f "$HERE/pci-list.jq")" -s "$MODEL_SCHEDULE" "${MODEL_ARGS[@]}")
set +e
"$cli" run "$dtb" "${args[@]}" --format json > "$CACHE/out/$name.$kernel/model.json"
rc=$?
set -e
[[ $rc -le 1 ]] || { echo "model.sh: iommulab run failed (exit $rc)" >&2; exit 1; }

argsjson="$(printf '%s\n' "${args[@]}" | jq -R . | jq -sc .)"
jq --arg config "$name" --arg kernel "$kernel" --argjson exit "$rc" --argjson arguments "$argsjson" '
  { config: $config, kernel: $kernel, exit: $exit, profile: .profile.name, arguments: $arguments,
    platformNotes: .platformNotes,
    deferredProbeTimeout: .deferredProbeTimeout,
    functions: [ .devices[] | select(.name | test(":[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]$"))
      | { bdf: (.name | capture("(?<b>[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7])$").b), class, driverState, group, iommu: .iommuDev,
          warnings: [ .warnings[]? ] } ],
    log: [ .steps[].log[] | select(.level != "trace" and .level != "debug") | "\(.device // "-"): \(.function): \(.message)" ],
    violations: [ .violations[] | "\(.invariant) \(.device): \(.message)" ] }' \
  "$CACHE/out/$name.$kernel/model.json" > "$RESULTS/$name.$kernel.model.json"
echo "model.sh: wrote $RESULTS/$name.$kernel.model.json (iommulab exit $rc)" >&2
