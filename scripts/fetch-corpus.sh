#!/usr/bin/env bash
# Rebuilds the Debian part of the corpus from Debian's packages, for users without ../shared/corpus.
# Usage: scripts/fetch-corpus.sh [OUT_DIR]   (default: ./corpus; then export IOMMULAB_CORPUS=OUT_DIR)
# - dtb/debian-<version>-arm64.tar.xz: every .dtb of the arm64 kernel image package of the suites
#   this machine's apt sources name (read with arm64 as the architecture, in private apt folders);
# - dtb/apple-from-linux-source-<version>.tar.xz: Apple DTS compiled from Debian's linux-source
#   (needs cpp and dtc).
# Nothing is installed on the host; downloads go to a temporary folder.
set -euo pipefail
out="$(realpath -m "${1:-corpus}")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/dtb" "$work/lists/partial" "$work/cache/archives/partial" "$work/x"

apt_arm64=(-o APT::Architecture=arm64 -o APT::Architectures::=arm64
  -o Dir::State::Lists="$work/lists" -o Dir::Cache="$work/cache" -o Dir::State::Status=/dev/null)
apt-get "${apt_arm64[@]}" update -qq

# The newest linux-image-*-arm64 (not -dbg, not -rt) the configured suites carry.
image=$(apt-cache "${apt_arm64[@]}" search --names-only '^linux-image-[0-9.]+-[0-9]+-arm64$' \
  | awk '{print $1}' | sort -V | tail -n 1)
[ -n "$image" ] || { echo "no arm64 kernel image package found in the configured suites" >&2; exit 1; }
echo "kernel image package: $image"
(cd "$work" && apt-get "${apt_arm64[@]}" download "$image")
dpkg -x "$work"/"$image"_*.deb "$work/x"
dtbdir=$(find "$work/x/usr/lib" -maxdepth 3 -type d -name dtbs -o -maxdepth 3 -type d -path '*linux-image-*' | head -n 1)
[ -n "$dtbdir" ] || { echo "no DTB folder in $image" >&2; exit 1; }
version=${image#linux-image-}
tar -C "$dtbdir" -cJf "$out/dtb/debian-$version.tar.xz" .
echo "wrote $out/dtb/debian-$version.tar.xz ($(tar -tJf "$out/dtb/debian-$version.tar.xz" | grep -c '\.dtb$') DTBs)"

# Apple: compile the DTS of the matching linux-source package with the kernel's own cpp + dtc flags.
src=$(apt-cache "${apt_arm64[@]}" search --names-only '^linux-source-[0-9.]+$' | awk '{print $1}' | sort -V | tail -n 1)
if [ -n "$src" ] && command -v dtc >/dev/null && command -v cpp >/dev/null; then
  (cd "$work" && apt-get "${apt_arm64[@]}" download "$src")
  dpkg -x "$work"/"$src"_*.deb "$work/src"
  tarball=$(find "$work/src/usr/src" -name 'linux-source-*.tar.xz' | head -n 1)
  tar -C "$work/src" -xJf "$tarball" --wildcards '*/arch/arm64/boot/dts' '*/include/dt-bindings' '*/include/uapi' '*/scripts/dtc/include-prefixes'
  tree=$(find "$work/src" -maxdepth 1 -type d -name 'linux-source-*' | head -n 1)
  mkdir -p "$work/apple"
  for dts in "$tree"/arch/arm64/boot/dts/apple/*.dts; do
    name=$(basename "$dts" .dts)
    cpp -nostdinc -undef -D__DTS__ -x assembler-with-cpp -I "$tree/scripts/dtc/include-prefixes" \
      -I "$tree/include" -I "$tree/arch/arm64/boot/dts" "$dts" -o "$work/$name.pp"
    dtc -q -I dts -O dtb -b 0 -i "$tree/arch/arm64/boot/dts/apple" -o "$work/apple/$name.dtb" "$work/$name.pp"
  done
  tar -C "$work" -cJf "$out/dtb/apple-from-${src}.tar.xz" apple
  echo "wrote $out/dtb/apple-from-${src}.tar.xz ($(ls "$work/apple" | wc -l) DTBs)"
else
  echo "skipping Apple DTBs: need linux-source in the suites, cpp and dtc" >&2
fi
