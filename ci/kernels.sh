#!/bin/bash
# kernels.sh: the kernels of the compatibility matrix, each with the headers
# and compiler to build modules for it and the image to boot it.
#
#   kernels.sh prepare NAME        make NAME ready (cached); prints the path
#                                  of its env file (KNAME SUITE KVER KDIR
#                                  VMLINUZ KCONFIG CHROOT)
#   kernels.sh exec NAME CMD...    run CMD where NAME's modules are built:
#                                  on the host for 6.1, else inside NAME's
#                                  chroot (with /proc mounted for objtool)
#   kernels.sh names               the known NAMEs
#
# NAME is 6.1 (bookworm: the host's own headers, see prepare.sh), 6.12
# (trixie) or 7.x (sid). Newer suites' headers want their own gcc (14, 16),
# which needs a newer libc than bookworm's, so those kernels get a minbase
# debootstrap chroot of their suite in BUILD/chroots/SUITE, made once and
# reused while it works (rebuilt when broken, or when IVS_REFRESH=1). The
# suite's linux-image is downloaded from inside the chroot (its own apt
# sources: the machine's apt sources are never touched) and unpacked on the
# host under BUILD/kernels/KVER, as prepare.sh does for 6.1. The mirror is
# the one the machine's apt uses for Debian (IVS_MIRROR overrides it).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BUILD=${IVS_BUILD:-$REPO/build}
mkdir -p "$BUILD"
BUILD=$(cd "$BUILD" && pwd)
NAMES="6.1 6.12 7.x"

say() { echo "kernels: $*" >&2; }
die() { say "$*"; exit 1; }

suite_of() { # NAME -> SUITE
	case "$1" in
	6.1) echo bookworm ;;
	6.12) echo trixie ;;
	7.x) echo sid ;;
	*) die "unknown kernel '$1' (known: $NAMES)" ;;
	esac
}

version_ok() { # NAME KVER: does KVER belong to NAME?
	case "$1:$2" in
	6.1:6.1.*|6.12:6.12.*|7.x:7.*) return 0 ;;
	esac
	return 1
}

env_file() { echo "$BUILD/matrix/env-$1.sh"; }

# The Debian mirror the machine's apt uses (one-line or deb822 sources).
mirror() {
	local f url
	if [ -n "${IVS_MIRROR:-}" ]; then echo "$IVS_MIRROR"; return; fi
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		 /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		url=$(awk '
			/^deb / && $0 !~ /security/ {
				u = ($2 ~ /^\[/) ? $3 : $2
				if (u ~ /\/debian\/?$/) { print u; exit }
			}
			/^URIs:/ {
				for (i = 2; i <= NF; i++)
					if ($i ~ /\/debian\/?$/ && $i !~ /security/) { print $i; exit }
			}' "$f")
		[ -n "$url" ] && { echo "${url%/}"; return; }
	done
	echo http://deb.debian.org/debian
}

# Everything mounted at or below DIR, deepest first, unmounted.
umount_below() {
	local m
	awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts |
		sort -r | while read -r m; do umount -l "$m" || true; done
}

# chroot_run DIR CMD...: CMD in the chroot, with /proc mounted in a private
# mount namespace (gone with the command even if it is killed) and unmounted
# on the way out all the same.
chroot_run() {
	local dir=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private -- /bin/bash -c '
		dir=$1; shift
		mount -t proc proc "$dir/proc" || exit 1
		trap "umount \"\$dir/proc\" 2>/dev/null || true" EXIT
		trap "exit 130" INT TERM
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LC_ALL=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
			chroot "$dir" "$@"' ivs-chroot "$dir" "$@"
}

# The linux-headers-VERSION that linux-headers-amd64 depends on, in a chroot.
chroot_kver() {
	# shellcheck disable=SC2016 # a dpkg-query format
	chroot_run "$1" dpkg-query -W -f='${Depends}' linux-headers-amd64 |
		sed -n 's/.*linux-headers-\([0-9][^ ,]*-amd64\).*/\1/p'
}

chroot_ready() { # DIR: the chroot works and has what it was made for
	local dir=$1 kver
	[ -f "$dir/.ivs-ready" ] || return 1
	kver=$(cat "$dir/.ivs-ready")
	[ -d "$dir/usr/src/linux-headers-$kver" ] || return 1
	[ -f "$BUILD/kernels/$kver/boot/vmlinuz-$kver" ] || return 1
	chroot_run "$dir" gcc --version >/dev/null 2>&1 || return 1
	chroot_run "$dir" make --version >/dev/null 2>&1 || return 1
	[ "$(chroot_kver "$dir")" = "$kver" ]
}

# unpack_image KVER DEB...: the kernel image under BUILD/kernels/KVER
unpack_image() {
	local kver=$1 root=$BUILD/kernels/$1 deb
	shift
	rm -rf "$root.tmp"
	for deb in "$@"; do dpkg -x "$deb" "$root.tmp"; done
	# from 7.x on, the packages hold /usr/lib/modules/KVER/{vmlinuz,config}
	# and only postinst links them into /boot: do that here
	local f
	for f in vmlinuz config System.map; do
		if [ ! -e "$root.tmp/boot/$f-$kver" ] &&
		   [ -f "$root.tmp/usr/lib/modules/$kver/$f" ]; then
			mkdir -p "$root.tmp/boot"
			ln -s "../usr/lib/modules/$kver/$f" "$root.tmp/boot/$f-$kver"
		fi
	done
	[ -f "$root.tmp/boot/vmlinuz-$kver" ] || die "no vmlinuz-$kver in $*"
	rm -rf "$root"
	mv "$root.tmp" "$root"
}

make_chroot() { # NAME SUITE DIR
	local name=$1 suite=$2 dir=$3 url kver deb t0 parts debs=/var/tmp/ivs-debs
	url=$(mirror)
	t0=$SECONDS
	umount_below "$dir"
	umount_below "$dir.tmp"
	rm -rf "$dir" "$dir.tmp"
	command -v debootstrap >/dev/null ||
		{ say "installing debootstrap"; apt-get install -y -q debootstrap >&2 ||
			{ apt-get update -q >&2 && apt-get install -y -q debootstrap >&2; }; }
	say "debootstrap $suite from $url into $dir (takes a few minutes)"
	mkdir -p "$(dirname "$dir")"
	debootstrap --variant=minbase \
		--include=make,gcc,libc6-dev,linux-headers-amd64,perl,kmod \
		"$suite" "$dir.tmp" "$url" >"$dir.log" 2>&1 ||
		{ tail -20 "$dir.log" >&2; die "debootstrap $suite failed (log: $dir.log)"; }
	kver=$(chroot_kver "$dir.tmp")
	[ -n "$kver" ] || die "$suite: no linux-headers-*-amd64 in the chroot"
	version_ok "$name" "$kver" || die "$suite carries $kver, not a $name kernel"

	# The image of the same version, from the suite's archive (debootstrap
	# leaves the package lists apt needs). From 7.x on, linux-image-KVER
	# only depends on linux-binary-KVER (vmlinuz) and linux-base-KVER
	# (config, System.map), and on linux-modules-KVER, which is not needed.
	mkdir -p "$dir.tmp$debs"
	chroot_run "$dir.tmp" sh -c "cd $debs &&
		{ apt-get download -q linux-image-$kver-unsigned ||
		  apt-get download -q linux-image-$kver; }" >>"$dir.log" 2>&1 ||
		die "$suite: cannot download linux-image-$kver (log: $dir.log)"
	deb=$(find "$dir.tmp$debs" -name 'linux-image-*.deb' | head -n1)
	[ -n "$deb" ] || die "$suite: no linux-image .deb downloaded"
	# (no grep -q: under pipefail, dpkg-deb killed by SIGPIPE reads as "no")
	if ! dpkg-deb -c "$deb" | grep "/boot/vmlinuz-$kver\$" >/dev/null; then
		parts=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' |
			sed -n "s/^ *\(linux-\(binary\|base\)-[^ ]*\).*/\1/p" | sort -u)
		[ -n "$parts" ] || die "$suite: no vmlinuz in ${deb##*/} nor parts named in it"
		chroot_run "$dir.tmp" sh -c "cd $debs && apt-get download -q ${parts//$'\n'/ }" \
			>>"$dir.log" 2>&1 ||
			die "$suite: cannot download $parts (log: $dir.log)"
	fi
	rm -rf "$BUILD/debs/$kver"
	mkdir -p "$BUILD/debs/$kver"
	mv "$dir.tmp$debs"/*.deb "$BUILD/debs/$kver/"
	rm -rf "${dir:?}.tmp$debs"
	unpack_image "$kver" "$BUILD/debs/$kver"/*.deb

	echo "$kver" >"$dir.tmp/.ivs-ready"
	mv "$dir.tmp" "$dir"
	say "$suite chroot ready with $kver in $((SECONDS - t0)) s"
}

prepare() { # NAME
	local name=$1 suite dir kver kdir vmlinuz env chroot=""
	suite=$(suite_of "$name")
	env=$(env_file "$name")
	mkdir -p "$BUILD/matrix"
	if [ "$suite" = bookworm ]; then
		# the host's own headers; prepare.sh fetches the image
		"$HERE/prepare.sh" "$BUILD" >/dev/null
		# shellcheck source=/dev/null disable=SC2153
		kver=$(. "$BUILD/env.sh" && echo "$KVER")
		kdir=/usr/src/linux-headers-$kver
	else
		dir=$BUILD/chroots/$suite
		# one maker at a time (two `make check` runs sharing build/)
		mkdir -p "$BUILD/chroots"
		exec 9>"$dir.lock"
		flock 9
		if [ "${IVS_REFRESH:-0}" != 1 ] && chroot_ready "$dir"; then
			say "$suite chroot cached: $dir ($(cat "$dir/.ivs-ready"))"
		else
			[ -e "$dir" ] && say "$suite chroot missing pieces or broken: rebuilding"
			make_chroot "$name" "$suite" "$dir"
		fi
		kver=$(cat "$dir/.ivs-ready")
		kdir=/usr/src/linux-headers-$kver	# as seen inside the chroot
		chroot=$dir
	fi
	version_ok "$name" "$kver" || die "$name: found kernel $kver"
	vmlinuz=$BUILD/kernels/$kver/boot/vmlinuz-$kver
	[ -f "$vmlinuz" ] || die "$name: no $vmlinuz"
	{
		echo "# generated by ci/kernels.sh"
		printf 'KNAME=%q\n' "$name"
		printf 'SUITE=%q\n' "$suite"
		printf 'KVER=%q\n' "$kver"
		printf 'KDIR=%q\n' "$kdir"
		printf 'VMLINUZ=%q\n' "$vmlinuz"
		printf 'KCONFIG=%q\n' "$BUILD/kernels/$kver/boot/config-$kver"
		printf 'CHROOT=%q\n' "$chroot"
	} >"$env"
	echo "$env"
}

exec_in() { # NAME CMD...
	local name=$1 env
	shift
	env=$(env_file "$name")
	[ -f "$env" ] || die "$name not prepared: run $0 prepare $name"
	# shellcheck source=/dev/null
	. "$env"
	if [ -z "$CHROOT" ]; then
		"$@"
	else
		chroot_run "$CHROOT" "$@"
	fi
}

case "${1:-}" in
prepare) [ $# -eq 2 ] || die "usage: $0 prepare NAME"; prepare "$2" ;;
exec) [ $# -ge 3 ] || die "usage: $0 exec NAME CMD..."; shift; exec_in "$@" ;;
names) echo "$NAMES" ;;
*) sed -n '2,12s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
esac
