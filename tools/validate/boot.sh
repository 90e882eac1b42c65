#!/usr/bin/env bash
# boot.sh CONFIG KERNEL: boot one configuration on one Debian arm64 kernel under QEMU (TCG) and record what the
# real kernel did with its IOMMU(s), as tools/validate/results/CONFIG.KERNEL.json.
#
#   CONFIG  a name from tools/validate/configs/ (NAME.conf) or a path to a .conf file
#   KERNEL  k612 (Debian 13 trixie, 6.12.y) or k7 (Debian unstable, 7.x), as unpacked by fetch.sh
#
# A .conf file is bash, sourced here; it sets
#   DESCRIPTION    one line for docs/validation.md
#   IOMMU          smmuv3 (-M virt,iommu=smmuv3), virtio (-device virtio-iommu-pci at 00:01.0) or none
#   DEVICES=(...)  QEMU arguments adding the PCI topology (-device ...); bus pcie.0 is the root bus
#   MODULES_EARLY=(...) / MODULES_LATE=(...)  modules loaded in this order (dependencies first, read from each
#                  module's .modinfo), early right after /init starts, late LATE_DELAY seconds after the early ones
#   LATE_DELAY, EARLY_DELAY, SETTLE  seconds (guest sleeps; SETTLE is the wait before the dump)
#   APPEND         extra kernel command line (e.g. deferred_probe_timeout=5)
#   SCHEDULE       the same load order in the model's --schedule notation (for the comparison)
#
# Also written, outside the repository (under the cache folder, out/): the initramfs, the DTB QEMU generated for
# this machine (dumpdtb=), and the full console log. Needs qemu-system-aarch64, cpio, xz/zstd, jq; run fetch.sh first.
set -euo pipefail

usage() { echo "usage: $0 CONFIG KERNEL   (KERNEL: k612 | k7)" >&2; exit 2; }
[[ $# -eq 2 ]] || usage

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RESULTS="${IOMMULAB_VALIDATE_RESULTS:-$HERE/results}"
CACHE="${IOMMULAB_VALIDATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommulab-validate}"
QEMU="${QEMU:-qemu-system-aarch64}"
BOOT_TIMEOUT="${BOOT_TIMEOUT:-240}"

conf="$1"
kernel="$2"
[[ -f "$conf" ]] || conf="$HERE/configs/$1.conf"
[[ -f "$conf" ]] || { echo "boot.sh: no configuration '$1'" >&2; exit 2; }
name="$(basename "$conf" .conf)"
[[ -f "$CACHE/$kernel.path" ]] || { echo "boot.sh: kernel '$kernel' not fetched (run tools/validate/fetch.sh)" >&2; exit 2; }
vmlinuz="$(cat "$CACHE/$kernel.path")"
moddir="$(find "$CACHE/$kernel/lib/modules" "$CACHE/$kernel/usr/lib/modules" -mindepth 1 -maxdepth 1 -type d -print -quit 2>/dev/null || true)"
[[ -d "$moddir/kernel" ]] || { echo "boot.sh: no modules for $kernel" >&2; exit 2; }
busybox="$(find "$CACHE/busybox" -type f -name busybox -path '*bin/*' -print -quit)"

DESCRIPTION="" IOMMU=none APPEND="" SCHEDULE="" EARLY_DELAY=0 LATE_DELAY=0 SETTLE=3
DEVICES=() MODULES_EARLY=() MODULES_LATE=()
# shellcheck source=/dev/null
source "$conf"

out="$CACHE/out/$name.$kernel"
rm -rf "$out"
mkdir -p "$out/root/modules"

# --- modules: name -> file, dependencies from .modinfo ----------------------------------------------------------
declare -A modfile=()
while IFS= read -r f; do
  b="$(basename "$f")"
  b="${b%%.ko*}"
  modfile["${b//-/_}"]="$f"
done < <(find "$moddir/kernel" -name '*.ko*')

decompress() {
  case "$1" in
    *.ko.xz) xz -dc "$1" ;;
    *.ko.zst) zstd -qdc "$1" ;;
    *.ko.gz) gzip -dc "$1" ;;
    *) cat "$1" ;;
  esac
}

declare -A placed=()
# Append module $1 (and first its dependencies) to list file $2, copying each .ko into the initramfs once.
place() {
  local m="${1//-/_}" list="$2" f dep deps
  [[ -n "${placed[$m]:-}" ]] && return 0
  f="${modfile[$m]:-}"
  if [[ -z "$f" ]]; then
    if grep -qE "/${m//_/[-_]}\.ko\$" "$moddir/modules.builtin" 2>/dev/null; then
      echo "boot.sh: $m is built in to $kernel, not loaded" >&2
      placed[$m]=builtin
      return 0
    fi
    echo "boot.sh: no module $m in $kernel" >&2
    exit 1
  fi
  decompress "$f" > "$out/root/modules/$m.ko"
  deps="$(tr '\0' '\n' < "$out/root/modules/$m.ko" | sed -n 's/^depends=//p' | head -n 1)"
  placed[$m]=1
  for dep in ${deps//,/ }; do
    place "$dep" "$list"
  done
  echo "$m.ko" >> "$list"
}

: > "$out/root/load-early"
: > "$out/root/load-late"
for m in "${MODULES_EARLY[@]}"; do place "$m" "$out/root/load-early"; done
for m in "${MODULES_LATE[@]}"; do place "$m" "$out/root/load-late"; done

# --- initramfs --------------------------------------------------------------------------------------------------
mkdir -p "$out/root/bin"
cp "$busybox" "$out/root/bin/busybox"
cp "$HERE/init.sh" "$out/root/init"
chmod 755 "$out/root/init" "$out/root/bin/busybox"
printf 'EARLY_DELAY=%q\nLATE_DELAY=%q\nSETTLE=%q\n' "$EARLY_DELAY" "$LATE_DELAY" "$SETTLE" > "$out/root/config.sh"
(cd "$out/root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -1 > "$out/initramfs.gz"

# --- QEMU -------------------------------------------------------------------------------------------------------
machine="virt,gic-version=3"
iommu_dev=()
case "$IOMMU" in
  smmuv3) machine+=",iommu=smmuv3" ;;
  virtio) iommu_dev=(-device "virtio-iommu-pci,bus=pcie.0,addr=0x1") ;;
  none) ;;
  *) echo "boot.sh: IOMMU must be smmuv3, virtio or none" >&2; exit 2 ;;
esac
qargs=(-cpu cortex-a57 -smp 1 -m 512 -nodefaults -no-user-config -display none -no-reboot
  "${iommu_dev[@]}" "${DEVICES[@]}")
append="console=ttyAMA0 panic=-1 loglevel=7 $APPEND"

"$QEMU" -M "$machine,dumpdtb=$out/virt.dtb" "${qargs[@]}" > /dev/null 2>&1
echo "boot.sh: $name on $kernel ($(basename "$vmlinuz")), log in $out/console.log" >&2
start=$SECONDS
set +e
timeout -k 10 "$BOOT_TIMEOUT" "$QEMU" -M "$machine" "${qargs[@]}" -serial stdio -monitor none \
  -kernel "$vmlinuz" -initrd "$out/initramfs.gz" -append "$append" < /dev/null > "$out/console.log" 2>&1
rc=$?
set -e
elapsed=$((SECONDS - start))
tr -d '\r' < "$out/console.log" | sed -n '/^IOMMULAB-BEGIN$/,/^IOMMULAB-END$/p' | sed '1d;$d' > "$out/real.json"
if [[ ! -s "$out/real.json" ]] || ! jq -e . "$out/real.json" > /dev/null; then
  echo "boot.sh: no result from the guest (qemu exit $rc after ${elapsed}s); see $out/console.log" >&2
  tail -n 20 "$out/console.log" >&2
  exit 1
fi

# --- result: the configuration, the model's --pci list derived from what the kernel enumerated (pci-list.jq), the
# real facts --------------------------------------------------------------------------------------------------
pci_list="$(jq -r -f "$HERE/pci-list.jq" "$out/real.json")"
mkdir -p "$RESULTS"
jq -n --arg config "$name" --arg description "$DESCRIPTION" --arg kernelImage "$(basename "$(dirname "$vmlinuz")")/$(basename "$vmlinuz")" \
  --arg iommu "$IOMMU" --arg machine "$machine" --arg append "$append" --arg schedule "$SCHEDULE" \
  --arg pci "$pci_list" --argjson qemuExit "$rc" --argjson seconds "$elapsed" \
  --arg early "$(paste -sd ' ' "$out/root/load-early")" --arg late "$(paste -sd ' ' "$out/root/load-late")" \
  --arg devices "${DEVICES[*]}" --slurpfile real "$out/real.json" '
  { config: $config, description: $description, iommu: $iommu, machine: $machine, devices: $devices,
    append: $append, modulesEarly: $early, modulesLate: $late, schedule: $schedule, pci: $pci,
    qemuExit: $qemuExit, seconds: $seconds, real: $real[0] }' > "$RESULTS/$name.$kernel.json"
echo "boot.sh: wrote $RESULTS/$name.$kernel.json (${elapsed}s)" >&2
