#!/bin/bash
# deps.sh: install (only when missing) the Debian packages the VM test harness
# needs on the host: QEMU, busybox for the initramfs, kernel headers and
# sources, compilers and small tools. Idempotent, non-interactive, quick when
# everything is already there. Needs root (or sudo) only when installing.
set -euo pipefail

PKGS=(qemu-system-x86 busybox-static linux-headers-amd64 linux-source-6.1
      sparse libudev-dev pkg-config cpio gcc libc6-dev make kmod xz-utils
      perl socat udev jq rsync stress-ng systemd)

missing=()
for p in "${PKGS[@]}"; do
	if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		continue
	fi
	missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#PKGS[@]} packages present"
	exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "deps: need root to install: ${missing[*]}" >&2; exit 1; }
	SUDO=(sudo)
fi

echo "deps: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "deps: done"
