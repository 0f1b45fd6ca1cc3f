#!/bin/bash
# dkms-check.sh [NAME...]: the module through DKMS, for each kernel of the
# matrix (default: all; see kernels.sh), as TAP, ending with
# "N passed, N failed[, N skipped]".
#
# 6.1 (the host's kernel headers): dkms add, build -k KVER, install,
# remove --all on the host itself, from a copy of the tree in build/dkms
# that /usr/src/ivshmem-VERSION links to; the host is left as it was
# (the link, the dkms tree, the installed module and a signing key dkms
# made are all removed; dkms itself, installed with apt if missing, stays).
# 6.12, 7.x: the same inside that kernel's chroot, with dkms installed
# there. Then a guest of that kernel loads the module dkms built and shows
# a device (guest/dkms.sh).
#
# matrix.sh sources this file for ivs_dkms NAME (after lib.sh, payload.sh
# and scenarios.sh); run on its own, it sources those itself.

# The top level of /lib/modules/KVER, one name a line.
ivs_dkms_modlist() { ls -A "/lib/modules/$1" 2>/dev/null || true; }

ivs_dkms_cleanup_host() { # VERSION KVER MADE_KEY LIST_BEFORE
	local n
	dkms remove -m ivshmem -v "$1" --all >/dev/null 2>&1 || true
	rm -f "/usr/src/ivshmem-$1"
	if [ "$3" = 1 ]; then rm -f /var/lib/dkms/mok.key /var/lib/dkms/mok.pub; fi
	# what depmod and dkms made there (headers alone bring build/source)
	ivs_dkms_modlist "$2" | while IFS= read -r n; do
		case "$n" in
		modules.*|updates)
			grep -qxF "$n" "$4" || rm -rf "/lib/modules/$2/${n:?}" ;;
		esac
	done
}

# ivs_dkms_run NAME CMD...: CMD where NAME's modules are built
ivs_dkms_run() { "$IVS_CI/kernels.sh" exec "$@"; }

ivs_dkms() {
	local name=$1 env ver kver chroot vmlinuz dw root made_key=0 ko log f rc
	local tree mod
	ivs_step "kernel $name: DKMS"
	env=$("$IVS_CI/kernels.sh" prepare "$name") ||
		{ host_fail "$name: dkms: kernel ready"; return 1; }
	# shellcheck source=/dev/null disable=SC2153
	read -r kver vmlinuz chroot < <(. "$env" && echo "$KVER $VMLINUZ ${CHROOT:--}")
	[ "$chroot" = - ] && chroot=""
	ver=$(cat "$IVS_REPO/VERSION")
	dw=$IVS_BUILD/matrix/dkms-$name
	rm -rf "$dw"
	mkdir -p "$dw"
	log=$dw/dkms.log

	# dkms itself, where the module is built
	if ! ivs_dkms_run "$name" sh -c 'command -v dkms >/dev/null ||
		apt-get install -y -q --no-install-recommends dkms ||
		{ apt-get update -q -o Acquire::Check-Valid-Until=false &&
		  apt-get install -y -q --no-install-recommends dkms; }' >>"$log" 2>&1; then
		tail -5 "$log"
		host_fail "$name: dkms is installed (log: $log)"
		return 1
	fi

	# the source tree, as /usr/src/ivshmem-VERSION sees it
	if [ -z "$chroot" ]; then
		root=""
		if [ -e "/usr/src/ivshmem-$ver" ] || [ -e /var/lib/dkms/ivshmem ]; then
			host_fail "$name: dkms: no ivshmem there before (/usr/src/ivshmem-$ver, /var/lib/dkms/ivshmem)"
			return 1
		fi
		[ -e /var/lib/dkms/mok.key ] || made_key=1
		ivs_dkms_modlist "$kver" >"$dw/modules-before"
		ivs_copy_sources "$IVS_BUILD/dkms/ivshmem-$ver"
		ln -s "$IVS_BUILD/dkms/ivshmem-$ver" "/usr/src/ivshmem-$ver"
		# shellcheck disable=SC2064 # the values now
		trap "ivs_dkms_cleanup_host '$ver' '$kver' '$made_key' '$dw/modules-before'; ivs_cleanup" EXIT
	else
		root=$chroot
		ivs_dkms_run "$name" dkms remove -m ivshmem -v "$ver" --all >/dev/null 2>&1 || true
		ivs_copy_sources "$chroot/usr/src/ivshmem-$ver"
	fi

	rc=0
	for step in add build install; do
		if ivs_dkms_run "$name" dkms "$step" -m ivshmem -v "$ver" -k "$kver" \
			>>"$log" 2>&1; then
			host_ok "$name: dkms $step ($kver)"
		else
			tail -20 "$log"
			f=$(ls "$root/var/lib/dkms/ivshmem/$ver/build/make.log" 2>/dev/null || true)
			[ -n "$f" ] && tail -20 "$f"
			host_fail "$name: dkms $step ($kver) (log: $log)"
			rc=1
			break
		fi
	done
	tree=$root/var/lib/dkms/ivshmem/$ver/$kver/x86_64/module
	if [ "$rc" -eq 0 ]; then
		mod=$(find "$root/lib/modules/$kver" "$root/usr/lib/modules/$kver" \
			-name 'ivshmem.ko*' 2>/dev/null | head -n1)
		if [ -n "$mod" ]; then
			host_ok "$name: dkms install puts ${mod#"$root"}"
		else
			host_fail "$name: dkms install puts ivshmem.ko under /lib/modules/$kver"
		fi
		ko=$(find "$tree" -name 'ivshmem.ko*' 2>/dev/null | head -n1)
		mkdir -p "$dw/payload"
		case "$ko" in
		*.xz) xz -dc "$ko" >"$dw/payload/ivshmem.ko" ;;
		*.zst) zstd -qdc "$ko" >"$dw/payload/ivshmem.ko" ;;
		*.gz) gzip -dc "$ko" >"$dw/payload/ivshmem.ko" ;;
		?*) cp "$ko" "$dw/payload/ivshmem.ko" ;;
		esac
	fi
	if ivs_dkms_run "$name" dkms remove -m ivshmem -v "$ver" --all >>"$log" 2>&1 &&
	   [ ! -e "$root/var/lib/dkms/ivshmem" ] &&
	   [ -z "$(find "$root/lib/modules/$kver" "$root/usr/lib/modules/$kver" \
		-name 'ivshmem.ko*' 2>/dev/null)" ]; then
		host_ok "$name: dkms remove --all leaves no module and no dkms tree"
	else
		host_fail "$name: dkms remove --all leaves no module and no dkms tree"
	fi
	if [ -z "$chroot" ]; then
		ivs_dkms_cleanup_host "$ver" "$kver" "$made_key" "$dw/modules-before"
		trap ivs_cleanup EXIT
		if [ ! -e "/usr/src/ivshmem-$ver" ] && [ ! -e /var/lib/dkms/ivshmem ] &&
		   { [ "$made_key" = 0 ] || [ ! -e /var/lib/dkms/mok.key ]; } &&
		   [ "$(ivs_dkms_modlist "$kver")" = "$(cat "$dw/modules-before")" ]; then
			host_ok "$name: the host is as it was (/usr/src, /var/lib/dkms, /lib/modules/$kver)"
		else
			host_fail "$name: the host is as it was (/usr/src, /var/lib/dkms, /lib/modules/$kver)"
		fi
	else
		rm -rf "$chroot/usr/src/ivshmem-$ver"
	fi
	[ -f "$dw/payload/ivshmem.ko" ] || return 1

	local vm
	vm=$(modinfo -F vermagic "$dw/payload/ivshmem.ko" 2>/dev/null || true)
	if [ "${vm%% *}" = "$kver" ]; then
		host_ok "$name: vermagic of the DKMS-built module is $kver"
	else
		host_fail "$name: vermagic of the DKMS-built module is '$vm', not $kver"
	fi

	# a guest of that kernel loads it
	cp "$IVS_CI/guest/dkms.sh" "$dw/payload/"
	"$IVS_REPO/selftests/ivshmem/vmtest.sh" initramfs "$dw/initrd.gz" "$dw/payload" >/dev/null
	f=$(ivs_shm_file "dkms-$name" 1M)
	# shellcheck disable=SC2046 # ivs_plain_dev prints several arguments
	IVS_PLANS=1 ivs_guest "dkms-$name" "$dw/initrd.gz" dkms.sh --kernel "$vmlinuz" \
		--mem 256 --append "ivs.slot=10" -- $(ivs_plain_dev d "$f"),addr=0x10 || true
	rm -f "$f"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	HERE=$(cd "$(dirname "$0")" && pwd)
	# shellcheck source=lib.sh
	. "$HERE/lib.sh"
	# shellcheck source=payload.sh
	. "$HERE/payload.sh"
	# shellcheck source=scenarios.sh
	. "$HERE/scenarios.sh"
	[ "$(id -u)" -eq 0 ] || { echo "dkms-check: needs root" >&2; exit 1; }
	"$HERE/deps.sh" >/dev/null
	"$HERE/prepare.sh" "$IVS_BUILD" >/dev/null
	ivs_env
	[ $# -gt 0 ] || read -ra names < <("$HERE/kernels.sh" names)
	for k in "${@:-${names[@]}}"; do
		ivs_dkms "$k" || true
	done
	ivs_summary
fi
