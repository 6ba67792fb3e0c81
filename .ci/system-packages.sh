#!/usr/bin/env bash
# Installs the system tools rootforge's tests and benchmarks use (Debian 12, as root).
# e2fsprogs comes from the backports suite for `mkfs.ext4 -d -` (tar on stdin, 1.47.1+);
# the backports source is derived from the machine's own Debian entry, never a hard-coded mirror.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root (apt-get)" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
backports="/etc/apt/sources.list.d/rootforge-backports.sources"
if [ ! -f "$backports" ]; then
  uri=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk -v s="$codename" '
      /^URIs:/ {u=$2} /^Suites:/ {for (i=2;i<=NF;i++) if ($i==s) {print u; exit}}
      /^$/ {u=""}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk -v s="$codename" '$1=="deb" && $3==s {print $2; exit}' /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || { echo "no Debian source entry for $codename found" >&2; exit 1; }
  printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" "$codename" > "$backports"
fi

apt-get update -qq
apt-get install -y -qq -t "$codename-backports" e2fsprogs >/dev/null
apt-get install -y -qq docker-registry zstd shellcheck skopeo umoci util-linux debootstrap python3 zsh fish >/dev/null
# The boot test: QEMU, and Debian's cloud kernel with its initramfs.
apt-get install -y -qq qemu-system-x86 linux-image-cloud-amd64 initramfs-tools >/dev/null
mkfs.ext4 -V 2>&1 | sed -n 1p  # sed reads it all: head would SIGPIPE mkfs under pipefail
