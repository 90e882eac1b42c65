#!/usr/bin/env bash
# summarize.sh [RESULT.json...]: one Markdown table row per real result (default: every results/CONFIG.KERNEL.json),
# for docs/validation.md. Real columns: IOMMU groups (members by bus:dev.fn, host bridge and IOMMU function
# included), functions bound without an IOMMU, functions with no driver, deferral/timeout and StreamID outcome.
# When results/CONFIG.KERNEL.model.json exists (model.sh), model columns: groups, and whether the model agrees on
# all four facts: the group partition, which functions have an IOMMU (a group), which functions are bound to a
# driver, and which were bound by the deferred-probe timeout ("deferred probe timeout, ignoring dependency");
# "no: ..." names the facts that differ.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RESULTS="${IOMMULAB_VALIDATE_RESULTS:-$HERE/results}"
files=("$@")
if [[ ${#files[@]} -eq 0 ]]; then
  shopt -s nullglob
  for f in "$RESULTS"/*.json; do
    [[ "$f" == *.model.json ]] || files+=("$f")
  done
fi
echo "| Configuration | Kernel | Real: IOMMU groups | Real: bound without IOMMU | Real: no driver | Real: deferral, timeout, StreamIDs | Model: IOMMU groups | Model agrees |"
echo "|---|---|---|---|---|---|---|---|"
for f in "${files[@]}"; do
  model="${f%.json}.model.json"
  if [[ -f "$model" ]]; then m="$model"; else m=/dev/null; fi
  jq -r --slurpfile model "$m" '
    def short: sub("^[0-9a-f]{4}:"; "");
    def bdfs: map((.bdf | short) + (if .vendor == "0x1af4" and .device == "0x1057" then " (the virtio-iommu)" else "" end)) | join(", ");
    def partition: map(select(.group != null)) | group_by(.group | tonumber) | map(map(.bdf | short) | sort) | sort;
    def render: map("{" + join(", ") + "}") | join(" ");
    .real as $r
    | ($r.functions | map(. + {group: .iommuGroup})) as $rf
    | ($rf | partition) as $rp
    | ($rf | map(select(.driver != null and .group == null)) | bdfs) as $noiommu
    | ($rf | map(select(.driver == null)) | bdfs) as $nodriver
    | ([ ($r.dmesg[] | select(test("deferred probe timeout")) | capture(" (?<d>[0-9a-f]{4}:[0-9a-f:.]+): ").d | short)
         ] | unique | if length > 0 then "timeout, then bound without IOMMU: " + join(", ") else "" end) as $timeout
    | ([ $r.dmesg[] | select(test("already in tree")) | capture(" (?<d>[0-9a-f]{4}:[0-9a-f:.]+): stream (?<s>[0-9]+) already in tree from dev (?<o>[0-9a-f:.]+)")
         | "\(.d | short): stream \(.s) already in tree (\(.o | short))" ]
       + [ $r.dmesg[] | select(test("Aliasing StreamID")) | capture(" (?<d>[0-9a-f]{4}:[0-9a-f:.]+): Aliasing StreamID (?<s>0x[0-9a-f]+) \\(from (?<o>[0-9a-f:.]+)\\)")
         | "\(.d | short): aliasing StreamID \(.s) (\(.o | short)) unsupported" ] | unique | join("; ")) as $clash
    | ([ $r.devicesDeferred // [] | .[] | sub("\t.*"; "") | short ] | if length > 0 then "still deferred: " + join(", ") else "" end) as $still
    | [ $timeout, $clash, $still | select(. != "") ] as $outcomes
    | (if ($model | length) == 0 then { groups: "(not run)", agree: "-" }
       elif $model[0].unsupported then { groups: "not modelled", agree: "-" }
       else ($model[0].functions | partition) as $mp
         | ($rf | map(select(.driver != null) | .bdf | short) | sort) as $rbound
         | ($model[0].functions | map(select(.driverState == "Bound") | .bdf) | sort) as $mbound
         | ([ $r.dmesg[] | select(test("deferred probe timeout")) | capture(" (?<d>[0-9a-f]{4}:[0-9a-f:.]+): ").d | short ] | unique) as $rto
         | ([ $model[0].log[] | select(test("deferred probe timeout")) | capture(":(?<d>[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]): ").d ] | unique) as $mto
         | [ (if $mp != $rp then "groups" else empty end),
             (if ($mp | add // [] | sort) != ($rp | add // [] | sort) then "IOMMU" else empty end),
             (if $mbound != $rbound then "bound" else empty end),
             (if $mto != $rto then "timeout" else empty end) ] as $diff
         | { groups: (if ($mp | length) == 0 then "none" else ($mp | render) end),
             agree: (if ($diff | length) == 0 then "yes" else "no: " + ($diff | join(", ")) end) } end) as $mo
    | "| \(.config) | \($r.kernel | sub("\\+deb.*"; "")) | \(if ($rp | length) == 0 then "none" else ($rp | render) end) | \(if $noiommu == "" then "-" else $noiommu end) | \(if $nodriver == "" then "-" else $nodriver end) | \(if ($outcomes | length) == 0 then "no deferral" else ($outcomes | join("; ")) end) | \($mo.groups) | \($mo.agree) |"
  ' "$f"
done
