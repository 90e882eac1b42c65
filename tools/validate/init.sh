#!/bin/busybox sh
# shellcheck shell=dash
# /init of the validation initramfs (busybox sh, runs in the guest). boot.sh writes /config.sh (EARLY_DELAY,
# LATE_DELAY, SETTLE) and /load-early, /load-late (module files in dependency order, one per line, from /modules).
# Prints one JSON document between IOMMULAB-BEGIN and IOMMULAB-END lines on the console, then powers off.
/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
EARLY_DELAY=0 LATE_DELAY=0 SETTLE=2
# shellcheck source=/dev/null
. /config.sh

now() { cut -d' ' -f1 /proc/uptime; }
EVENTS=/tmp/events
: > "$EVENTS"
event() { echo "$(now) $*" >> "$EVENTS"; echo "IOMMULAB-EVENT $(now) $*"; }

load_list() {
  [ -s "$1" ] || return 0
  while read -r ko; do
    [ -n "$ko" ] || continue
    if out="$(insmod "/modules/$ko" 2>&1)"; then event "insmod $ko"; else event "insmod $ko failed: $out"; fi
  done < "$1"
}

event "init"
sleep "$EARLY_DELAY"
load_list /load-early
if [ -s /load-late ]; then
  sleep "$LATE_DELAY"
  load_list /load-late
fi
sleep "$SETTLE"
# Probes that the timeout released may still run (e1000 takes seconds under TCG): wait until the kernel log has been
# quiet for 2 s (at most 60 s more), then keep kernel messages off the console so they do not cut into the JSON.
n=0
while [ "$n" -lt 30 ]; do
  before="$(dmesg | wc -l)"
  sleep 2
  [ "$(dmesg | wc -l)" = "$before" ] && break
  n=$((n + 1))
done
dmesg -n 1
event "dump"

# JSON string body: escape backslash and quote, tabs; drop other control characters.
esc() { sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' | tr -d '\000-\010\013-\037'; }
# Print a file's lines as a JSON array of strings.
json_lines() {
  printf '['
  esc < "$1" | awk 'BEGIN { n = 0 } { printf "%s\"%s\"", (n++ ? "," : ""), $0 }'
  printf ']'
}
link_base() { if [ -e "$1" ]; then basename "$(readlink "$1")"; fi; }
jstr() { if [ -n "$1" ]; then printf '"%s"' "$1"; else printf 'null'; fi; }

# Config space facts: PCIe port type (PCI Express capability, flags bits 4-7), an SHPC capability (ID 0x0c), the
# secondary bus of a bridge, and the ACS extended capability's capability and control registers. Needs the
# 4096-byte config space (root can read it).
cfg_facts() {
  od -An -tu1 -v "$1/config" 2>/dev/null | awk '
    { for (i = 1; i <= NF; i++) b[n++] = $i }
    END {
      type = "null"; shpc = "false"; p = b[52]; guard = 0
      if (int(b[6] / 16) % 2) {
        while (p >= 64 && p < 256 && guard++ < 48) {
          if (b[p] == 16) type = int(b[p + 2] / 16) % 16
          if (b[p] == 12) shpc = "true"
          p = b[p + 1]
        }
      }
      sec = "null"
      if (b[14] % 128 == 1) sec = sprintf("\"%02x\"", b[25])
      acs = "null"; off = 256; guard = 0
      while (n > 256 && off >= 256 && off + 7 < n && guard++ < 64) {
        h = b[off] + b[off + 1] * 256 + b[off + 2] * 65536 + b[off + 3] * 16777216
        if (h == 0) break
        if (h % 65536 == 13) {
          acs = sprintf("{\"cap\":\"0x%04x\",\"ctrl\":\"0x%04x\"}", b[off + 4] + b[off + 5] * 256, b[off + 6] + b[off + 7] * 256)
          break
        }
        off = int(h / 1048576) % 4096
      }
      printf "\"headerType\":\"0x%02x\",\"pcieType\":%s,\"shpc\":%s,\"secondaryBus\":%s,\"acs\":%s,\"configBytes\":%d", b[14], type, shpc, sec, acs, n
    }'
}

emit() {
  echo "{"
  printf '"kernel":"%s",\n' "$(uname -r)"
  printf '"cmdline":"%s",\n' "$(esc < /proc/cmdline)"
  printf '"functions":[\n'
  first=1
  for d in /sys/bus/pci/devices/*; do
    [ -e "$d" ] || continue
    bdf="$(basename "$d")"
    grp="$(link_base "$d/iommu_group")"
    gtype=""
    [ -n "$grp" ] && [ -r "/sys/kernel/iommu_groups/$grp/type" ] && gtype="$(cat "/sys/kernel/iommu_groups/$grp/type")"
    [ $first = 1 ] || printf ',\n'
    first=0
    printf '{"bdf":"%s","vendor":"%s","device":"%s","class":"%s","driver":%s,"iommuGroup":%s,"groupType":%s,"iommu":%s,%s}' \
      "$bdf" "$(cat "$d/vendor")" "$(cat "$d/device")" "$(cat "$d/class")" \
      "$(jstr "$(link_base "$d/driver")")" "$(jstr "$grp")" "$(jstr "$gtype")" "$(jstr "$(link_base "$d/iommu")")" \
      "$(cfg_facts "$d")"
  done
  printf '\n],\n'
  printf '"virtio":['
  first=1
  for d in /sys/bus/virtio/devices/*; do
    [ -e "$d" ] || continue
    [ $first = 1 ] || printf ','
    first=0
    printf '{"name":"%s","device":"%s","parent":"%s","driver":%s}' "$(basename "$d")" "$(cat "$d/device")" \
      "$(basename "$(dirname "$(readlink -f "$d")")")" "$(jstr "$(link_base "$d/driver")")"
  done
  printf '],\n'
  if [ -r /sys/kernel/debug/devices_deferred ]; then
    cat /sys/kernel/debug/devices_deferred > /tmp/deferred
    printf '"devicesDeferred":%s,\n' "$(json_lines /tmp/deferred)"
  else
    printf '"devicesDeferred":null,\n'
  fi
  printf '"events":%s,\n' "$(json_lines "$EVENTS")"
  dmesg | grep -iE 'iommu|smmu|stream|defer|timeout|timed out|e1000|acs|dma|virtio|probe' | head -n 120 > /tmp/dmesg
  printf '"dmesg":%s\n' "$(json_lines /tmp/dmesg)"
  echo "}"
}

echo "IOMMULAB-BEGIN"
emit
echo "IOMMULAB-END"
poweroff -f
