#!/usr/bin/env bash
# Builds the seed corpora of the fuzz targets from the shared corpus and the test fixtures.
# Usage: fuzz/seed.sh [OUT]   (default /tmp/iommulab-fuzz/seeds); needs dtc, tar, xz.
# Seeds are small on purpose: AFL++ mutates small inputs far faster than 200 KB boards.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-/tmp/iommulab-fuzz/seeds}"
corpus="${IOMMULAB_CORPUS:-$(cd "$repo/.." && pwd)/shared/corpus}"
[ -d "$corpus/dtb" ] || corpus=/work/shared/corpus
[ -d "$corpus/dtb" ] || { echo "seed: corpus not found (set IOMMULAB_CORPUS)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/dtb" "$out/dts" "$out/acpi"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# dtb: the QEMU boards, the smallest Debian boards, one Apple board with DARTs, and the DTS fixtures compiled by dtc.
cp "$corpus"/qemu/*.dtb "$out/dtb/"
tar -xJf "$corpus"/dtb/debian-*.tar.xz -C "$tmp" \
  ./mediatek/mt6755-evb.dtb ./amlogic/amlogic-a9-a311y3-by401.dtb ./bst/bstc1200-cdcu1.0-adas_4c2g.dtb \
  ./marvell/armada-8080-db.dtb ./arm/corstone1000-mps3.dtb ./arm/foundation-v8-psci.dtb
find "$tmp" -name '*.dtb' -exec cp {} "$out/dtb/" \;
mkdir -p "$tmp/apple"
tar -xJf "$corpus"/dtb/apple-*.tar.xz -C "$tmp/apple" s5l8960x-n51.dtb
cp "$tmp/apple/s5l8960x-n51.dtb" "$out/dtb/"
fixtures="$repo/tests/IommuLab.Tests/Fixtures"
for f in "$fixtures"/dts/*.dts "$fixtures"/topology/*.dts; do
  [ -e "$f" ] || continue
  dtc -q -I dts -O dtb -o "$out/dtb/fixture-$(basename "$f" .dts).dtb" "$f" 2>/dev/null || true
done

# dts: the fixtures, plus the QEMU boards decompiled.
for f in "$fixtures"/dts/*.dts "$fixtures"/topology/*.dts; do
  [ -e "$f" ] && cp "$f" "$out/dts/$(basename "$(dirname "$f")")-$(basename "$f")"
done
for f in "$corpus"/qemu/*.dtb; do
  dtc -q -I dtb -O dts -o "$out/dts/$(basename "$f" .dtb).dts" "$f"
done
# Two seeds that reach /include/ and /incbin/ (the harness provides a.dtsi and a.bin in its folder).
printf '/dts-v1/;\n/include/ "a.dtsi"\n/ { b = /incbin/("a.bin", 2, 4); };\n' > "$out/dts/include-incbin.dts"

# acpi: QEMU's IORT and VIOT tables, four distinct laptop IORTs, the malformed one, iasl's template.
cp "$corpus"/iort/qemu/*IORT*.dat "$corpus"/iort/qemu/*VIOT*.dat "$out/acpi/"
for l in acer-aspire-1 huawei-matebooke-2019 samsung-galaxybook2-go lenovo-thinkpad-x13s; do
  cp "$corpus/iort/laptops/$l.iort.dat" "$out/acpi/"
done
cp "$corpus"/iort/malformed/*.dat "$corpus"/iort/iasl/*.aml "$out/acpi/"

for t in dtb dts acpi; do
  echo "seed: $t: $(find "$out/$t" -type f | wc -l) files, $(du -sk "$out/$t" | cut -f1) KB"
done
