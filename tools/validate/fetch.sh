#!/usr/bin/env bash
# fetch.sh: download and unpack Debian's arm64 kernels (trixie 6.12, sid 7.x) and busybox-static, nothing installed.
#
# Usage: tools/validate/fetch.sh            (idempotent; packages are cached)
# Output: $CACHE/k612/ and $CACHE/k7/ (unpacked linux-image), $CACHE/busybox/bin/busybox,
#         $CACHE/k612.path and $CACHE/k7.path naming the vmlinuz of each.
# CACHE defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/iommulab-validate (override with IOMMULAB_VALIDATE_CACHE).
#
# The mirror is not named here: the URI comes from the host's own apt sources (deb822 or one-line format), and
# only the suites differ (trixie, sid). apt runs with private state, cache and source folders and arm64 only.
set -euo pipefail

CACHE="${IOMMULAB_VALIDATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iommulab-validate}"
APT="$CACHE/apt"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$CACHE/debs"

# The first Debian archive URI from the host's apt sources (skipping -security archives).
host_uri() {
  local f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r "$f" ]] || continue
    uri="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f")"
    [[ -n "$uri" ]] && { printf '%s\n' "$uri"; return 0; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r "$f" ]] || continue
    uri="$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { if ($i !~ /security/) print $i; break } }' "$f" | head -n 1)"
    [[ -n "$uri" ]] && { printf '%s\n' "$uri"; return 0; }
  done
  echo "fetch.sh: no Debian URI found in the host's apt sources" >&2
  return 1
}

URI="$(host_uri)"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
{
  echo "deb [arch=arm64 signed-by=$KEYRING] $URI trixie main"
  echo "deb [arch=arm64 signed-by=$KEYRING] $URI sid main"
} > "$APT/sources.list"

apt_arm64() {
  apt-get -q -o APT::Architecture=arm64 -o APT::Architectures::=arm64 "${APT_OPTS[@]}" "$@"
}
APT_OPTS=(-o Dir::State::Lists="$APT/lists" -o Dir::Cache="$APT/cache" -o Dir::State::Status=/dev/null
  -o Dir::Etc::SourceList="$APT/sources.list" -o Dir::Etc::SourceParts=/dev/null)

# Refresh the lists at most once a day.
if [[ -z "$(find "$APT/lists" -maxdepth 1 -name '*Packages*' -mtime -1 -print -quit)" ]]; then
  apt_arm64 update
fi

# Newest generic linux-image-<version>-arm64 of a series prefix ("6.12." or "7."); not -cloud, -rt, -dbg, -unsigned.
pick_image() {
  local prefix="$1"
  apt-cache -o APT::Architecture=arm64 -o APT::Architectures::=arm64 "${APT_OPTS[@]}" pkgnames "linux-image-$prefix" \
    | { grep -E "^linux-image-${prefix//./\\.}[^-]*-arm64\$" || true; } | sort -V | tail -n 1
}

fetch_deb() {
  local pkg="$1"
  local have
  have="$(find "$CACHE/debs" -maxdepth 1 -name "${pkg}_*_arm64.deb" -print -quit)"
  if [[ -z "$have" ]]; then
    (cd "$CACHE/debs" && apt_arm64 download "$pkg") >&2
    have="$(find "$CACHE/debs" -maxdepth 1 -name "${pkg}_*_arm64.deb" -print -quit)"
  fi
  printf '%s\n' "$have"
}

# Unpack one or more .debs into dest (again only when the set of packages changed).
unpack() {
  local dest="$1"
  shift
  local stamp deb
  stamp="$(for deb in "$@"; do basename "$deb"; done)"
  if [[ ! -f "$dest/.unpacked" ]] || [[ "$(cat "$dest/.unpacked")" != "$stamp" ]]; then
    rm -rf "$dest"
    mkdir -p "$dest"
    for deb in "$@"; do
      dpkg-deb -x "$deb" "$dest"
    done
    printf '%s\n' "$stamp" > "$dest/.unpacked"
  fi
}

# Newer Debian kernels split linux-image-* into linux-binary-*, linux-modules-* and linux-base-* (the image package
# only depends on them): fetch those of the image's dependencies too.
split_parts() {
  local deb="$1"
  dpkg-deb -f "$deb" Depends | tr ',|' '\n' | sed 's/^ *//; s/ .*//' \
    | { grep -E '^linux-(binary|modules|base)-' || true; }
}

for spec in "k612:6.12." "k7:7."; do
  name="${spec%%:*}"
  prefix="${spec#*:}"
  img="$(pick_image "$prefix")"
  [[ -n "$img" ]] || { echo "fetch.sh: no linux-image-${prefix}*-arm64 in trixie/sid" >&2; exit 1; }
  debs=("$(fetch_deb "$img")")
  while IFS= read -r part; do
    [[ -n "$part" ]] && debs+=("$(fetch_deb "$part")")
  done < <(split_parts "${debs[0]}")
  unpack "$CACHE/$name" "${debs[@]}"
  vmlinuz="$(find "$CACHE/$name/boot" "$CACHE/$name/usr/lib" -name "vmlinuz*" -print -quit 2>/dev/null || true)"
  [[ -n "$vmlinuz" ]] || { echo "fetch.sh: no vmlinuz in ${debs[*]}" >&2; exit 1; }
  printf '%s\n' "$vmlinuz" > "$CACHE/$name.path"
  echo "fetch.sh: $name = $(basename "$vmlinuz") (${#debs[@]} package(s))"
done

bb="$(fetch_deb busybox-static)"
unpack "$CACHE/busybox" "$bb"
echo "fetch.sh: busybox = $(basename "$bb")"
echo "fetch.sh: cache in $CACHE"
