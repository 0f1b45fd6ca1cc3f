#!/bin/bash
# deb-check.sh: the Debian packages of debian/, built, linted, installed and
# used, as TAP.
#  1. copies the tree (git's tracked and untracked, not ignored files) to
#     $IVS_BUILD/deb/ivshmem-VERSION and runs `dpkg-buildpackage -us -uc -b`
#     there, so the .debs land in $IVS_BUILD/deb and the work tree is never
#     touched; then `debian/rules clean` must leave that copy as it was;
#  2. lintian on the binary upload and on a source package made from the
#     cleaned copy: no errors (warnings and infos are listed);
#  3. checks what each package holds (dpkg-deb -c);
#  4. installs them with `apt-get install ./*.deb` into a minbase debootstrap
#     chroot of bookworm that has linux-headers-amd64. The chroot is made once
#     and kept as a tar file, $IVS_BUILD/chroots/bookworm.tar (IVS_REFRESH=1
#     remakes it), unpacked afresh in $IVS_BUILD/deb/root for each run and
#     removed at its end: a directory tree under the repository would not
#     survive `make clean`, whose Kbuild clean (M=the repository) deletes
#     every *.o, *.a and *.ko below it, libc6-dev's crt*.o and libc.a
#     included. Commands run chrooted in a private mount namespace with /proc
#     and /dev/pts mounted, so no mount outlives them. Checks that dkms built
#     and installed the module for the chroot's headers, that the files, the
#     group and ldconfig are in place, that hello.c builds with `pkg-config
#     --cflags --libs libivshmem` alone, and that purging the packages removes
#     the module and every file;
#  5. boots a guest with Debian's 6.1 kernel (env.sh's KVER; the module is
#     built for it with `dkms install -k` if the chroot's headers are of
#     another version) and one ivshmem-plain device: the DKMS-built module
#     loads, the packaged `ivshmem` lists the device and round-trips data,
#     hello runs (guest/deb.sh); the host then reads what the guest wrote.
#
# Needs root for 4 and 5 (debootstrap, chroot, mounts; skipped otherwise)
# and installs the build dependencies (debhelper, dh-dkms, lintian,
# debootstrap...) with apt when missing. The machine's apt sources are not
# touched: the chroot has its own, from the same mirror (IVS_MIRROR overrides).
#
# Standalone: `bash ci/deb-check.sh` runs deps.sh and prepare.sh,
# then all of the above, and ends with ivs_summary ("N passed, N failed[,
# N skipped]"; exit non-zero on failure). `deb-check.sh build` does 1-3
# only (no root needed, no deps.sh or prepare.sh): the packages for a user.
# Sourced by a script that already sourced lib.sh and ran ivs_env (check.sh):
# defines deb_check_main, which adds its results and its guest to that
# script's lib.sh state, and returns non-zero only if the packages could not
# be built. Everything it defines starts with deb_check_ or dc_.

dc_step() { echo; echo "=== deb-check: $* ($((SECONDS - DC_T0)) s)"; }

# The Debian mirror the machine's apt uses, and its security mirror.
dc_mirror() { # debian | debian-security
	local f url
	if [ "$1" = debian ] && [ -n "${IVS_MIRROR:-}" ]; then echo "$IVS_MIRROR"; return; fi
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		 /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		url=$(awk -v want="$1" '
			function pick(u) { if (u ~ ("/" want "/?$")) { print u; exit } }
			/^deb / { pick(($2 ~ /^\[/) ? $3 : $2) }
			/^URIs:/ { for (i = 2; i <= NF; i++) pick($i) }' "$f")
		[ -n "$url" ] && { echo "${url%/}"; return; }
	done
	if [ "$1" = debian-security ] && [ -n "${IVS_MIRROR:-}" ]; then
		echo "${IVS_MIRROR%/debian*}/debian-security"
		return
	fi
	echo "http://deb.debian.org/$1"
}

# dc_run DIR CMD...: CMD chrooted into DIR, /proc and /dev/pts mounted, in a private mount
# namespace (used on the cached chroot itself, only while making it).
dc_run() {
	local dir=$1
	shift
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private -- /bin/bash -c '
		dir=$1; shift
		mount -t proc proc "$dir/proc" || exit 1
		mount -t devpts -o newinstance,ptmxmode=0666 devpts "$dir/dev/pts" || true
		trap "cd /; umount \"\$dir/dev/pts\" 2>/dev/null; umount \"\$dir/proc\" || true" EXIT
		env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LC_ALL=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
			chroot "$dir" "$@"' dc-run "$dir" "$@"
}

# dc_ns SCRIPT: bash SCRIPT (set -e) in a private mount namespace in which
# $M is this run's chroot (DC_ROOT), with /proc and /dev/pts mounted;
# `ch CMD...` runs CMD chrooted there. Both are unmounted on the way out
# (trap), and would go with the namespace anyway.
dc_ns() {
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private -- /bin/bash -c '
		set -e
		M=$DC_ROOT
		mount -t proc proc "$M/proc"
		mount -t devpts -o newinstance,ptmxmode=0666 devpts "$M/dev/pts"
		trap "cd /; for m in \"\$M/dev/pts\" \"\$M/proc\"; do umount \"\$m\" || true; done" EXIT
		ch() {
			env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
				HOME=/root LC_ALL=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
				chroot "$M" "$@"
		}
		eval "$1"' dc-ns "$1"
}

# The linux-headers-VERSION that linux-headers-amd64 depends on, in a chroot.
dc_chroot_kver() {
	# shellcheck disable=SC2016 # a dpkg-query format
	dc_run "$1" dpkg-query -W -f='${Depends}' linux-headers-amd64 |
		sed -n 's/.*linux-headers-\([0-9][^ ,]*-amd64\).*/\1/p'
}

# dc_chroot_ok DIR: an unpacked chroot has its headers and a working compiler
dc_chroot_ok() {
	local kver
	[ -f "$1/.ivs-ready" ] || return 1
	kver=$(cat "$1/.ivs-ready")
	[ -d "$1/usr/src/linux-headers-$kver" ] &&
		dc_run "$1" sh -c 'echo "int main(void) { return 0; }" >/tmp/t.c &&
			gcc -o /tmp/t /tmp/t.c && /tmp/t && rm -f /tmp/t /tmp/t.c' >/dev/null 2>&1 &&
		dc_run "$1" make --version >/dev/null 2>&1 &&
		[ "$(dc_chroot_kver "$1")" = "$kver" ]
}

# dc_unpack TAR DIR: a fresh copy of the cached chroot in DIR
dc_unpack() {
	rm -rf "$2"
	mkdir -p "$2"
	tar --numeric-owner --xattrs -C "$2" -xpf "$1"
}

# The bookworm chroot: minbase, the kernel headers and a C compiler (as
# kernels.sh makes its chroots), its own apt sources with updates and
# security (the headers the point release had are then replaced by the
# newest), and the packages the .debs depend on downloaded (not installed)
# so that each run's apt-get install finds them in the cache.
dc_make_chroot() { # TAR LOG
	local tarf=$1 dir=${1%.tar} log=$2 url sec kver t0=$SECONDS
	url=$(dc_mirror debian)
	sec=$(dc_mirror debian-security)
	rm -rf "$dir" "$dir.tmp" "$tarf"
	mkdir -p "$(dirname "$dir")"
	echo "deb-check: debootstrap bookworm from $url into $dir (a few minutes)"
	# in a private mount namespace: the /proc that debootstrap mounts in
	# the target goes with it, even when debootstrap fails or is killed
	unshare --mount --propagation private -- debootstrap --variant=minbase \
		--include=make,gcc,libc6-dev,linux-headers-amd64,perl,kmod \
		bookworm "$dir.tmp" "$url" >"$log" 2>&1 ||
		{ tail -20 "$log"; echo "deb-check: debootstrap failed (log: $log)"; return 1; }
	cat >"$dir.tmp/etc/apt/sources.list" <<-EOF
		deb $url bookworm main
		deb $url bookworm-updates main
		deb $sec bookworm-security main
	EOF
	# shellcheck disable=SC2016 # expanded by the chroot's sh
	{
		dc_run "$dir.tmp" apt-get update -q &&
		dc_run "$dir.tmp" apt-get install -y -q --no-install-recommends \
			linux-headers-amd64 &&
		dc_run "$dir.tmp" sh -c 'kver=$(dpkg-query -W -f="\${Depends}" linux-headers-amd64 |
			sed -n "s/.*linux-headers-\([0-9][^ ,]*\)-amd64.*/\1/p")
			old=$(dpkg-query -W -f="\${Package}\n" "linux-headers-[0-9]*" | grep -v -- "-$kver-")
			[ -z "$old" ] || apt-get purge -y -q $old' &&
		dc_run "$dir.tmp" apt-get install -y -q -d --no-install-recommends \
			dkms libudev-dev pkg-config adduser
	} >>"$log" 2>&1 ||
		{ tail -20 "$log"; echo "deb-check: apt in the chroot failed (log: $log)"; return 1; }
	kver=$(dc_chroot_kver "$dir.tmp")
	[ -n "$kver" ] || { echo "deb-check: no linux-headers-*-amd64 in the chroot"; return 1; }
	echo "$kver" >"$dir.tmp/.ivs-ready"
	tar --numeric-owner --xattrs -C "$dir.tmp" -cpf "$tarf.tmp" . ||
		{ echo "deb-check: cannot make $tarf"; return 1; }
	mv "$tarf.tmp" "$tarf"
	rm -rf "$dir.tmp"
	echo "deb-check: bookworm chroot ready with $kver headers in $((SECONDS - t0)) s ($tarf)"
}

# Build dependencies and test tools, installed only when missing.
dc_deps() {
	local p missing=""
	for p in dpkg-dev debhelper dh-dkms lintian fakeroot debootstrap libudev-dev \
		 pkg-config gcc make cpio; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	[ "$(id -u)" = 0 ] || { echo "deb-check: missing:$missing (run as root to install)"; return 1; }
	echo "deb-check: installing$missing"
	# shellcheck disable=SC2086 # a list of packages
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing \
		>/dev/null 2>&1 ||
		{ apt-get update -q >/dev/null 2>&1 &&
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
			$missing >/dev/null 2>&1; }
}

# dc_tree DIR: the names, types, modes and file contents (md5) of everything
# in DIR but .git, to compare before and after.
dc_tree() {
	(cd "$1" && {
		find . -path ./.git -prune -o -printf '%y %m %P\n'
		find . -path ./.git -prune -o -type f -print0 | xargs -0 -r md5sum
	} | LC_ALL=C sort)
}

deb_check_main() {
	local W=$IVS_BUILD/deb REPO=$IVS_REPO HERE=$IVS_CI
	local ver src log missing f chroot ckver gkver vmlinuz t
	DC_T0=$SECONDS
	ver=$(cat "$REPO/VERSION")
	src=$W/ivshmem-$ver

	dc_step "build dependencies"
	dc_deps || { host_fail "deb: build dependencies installed"; return 1; }

	dc_step "dpkg-buildpackage -us -uc -b"
	# only outputs of this script live in $W (the chroot of the last run too)
	rm -rf "$W"
	mkdir -p "$src"
	(cd "$REPO" && { git ls-files -z -co --exclude-standard 2>/dev/null ||
		find . -path ./build -prune -o -path ./.git -prune -o -type f -printf '%P\0'; }) |
		(cd "$REPO" && cpio -0 -pdm --quiet "$src" 2>/dev/null)
	# files git lists but that are gone from the work tree are not copied
	if [ ! -f "$src/debian/control" ]; then
		host_fail "deb: the tree has debian/control"
		return 1
	fi
	dc_tree "$src" >"$W/tree-before"
	# a repository of the copy, to see what a build leaves that git would show
	(cd "$src" && git init -q && git add -A &&
		git -c user.name=deb-check -c user.email=deb-check@localhost commit -qm tree) \
		>"$W/git.log" 2>&1 || echo "deb-check: no git repository in the copy (see $W/git.log)"
	t=$SECONDS
	if (cd "$src" && dpkg-buildpackage -us -uc -b) >"$W/build.log" 2>&1; then
		host_ok "deb: dpkg-buildpackage -us -uc -b builds ($((SECONDS - t)) s)"
	else
		tail -30 "$W/build.log"
		host_fail "deb: dpkg-buildpackage -us -uc -b builds (log: $W/build.log)"
		return 1
	fi
	missing=""
	for f in ivshmem-dkms_${ver}_all libivshmem0_${ver}_amd64 \
		 libivshmem-dev_${ver}_amd64 ivshmem-tools_${ver}_amd64; do
		[ -f "$W/$f.deb" ] || missing="$missing $f.deb"
	done
	if [ -z "$missing" ]; then
		host_ok "deb: ivshmem-dkms, libivshmem0, libivshmem-dev and ivshmem-tools are built"
	else
		host_fail "deb: packages missing:$missing"
		return 1
	fi
	if grep -q 'dpkg-gensymbols: warning' "$W/build.log"; then
		sed -n '/dpkg-gensymbols: warning/,/^[^-+ @]/p' "$W/build.log" | head -20
		host_fail "deb: debian/libivshmem0.symbols lists exactly the exported symbols (add new ones with the version that brings them)"
	else
		host_ok "deb: debian/libivshmem0.symbols lists exactly the exported symbols"
	fi
	if grep -E '^[^ ]+:[0-9]+:[0-9]+: warning:' "$W/build.log" | head -5 | grep .; then
		host_fail "deb: the userspace builds with the packaging's flags with no warning"
	else
		host_ok "deb: the userspace builds with the packaging's flags (hardening=+all) with no warning"
	fi
	if [ -d "$src/.git" ]; then
		if [ -z "$(cd "$src" && git status --porcelain --untracked-files=all)" ]; then
			host_ok "deb: after the build, git status shows nothing new (debian/.gitignore and the tree's)"
		else
			(cd "$src" && git status --porcelain --untracked-files=all) | head -10 | sed 's/^/    /'
			host_fail "deb: after the build, git status shows nothing new"
		fi
	fi
	if (cd "$src" && debian/rules clean) >"$W/clean.log" 2>&1 &&
	   dc_tree "$src" >"$W/tree-after" && cmp -s "$W/tree-before" "$W/tree-after"; then
		host_ok "deb: debian/rules clean leaves the tree as it was"
	else
		diff "$W/tree-before" "$W/tree-after" | head -20
		host_fail "deb: debian/rules clean leaves the tree as it was"
	fi

	dc_step "lintian"
	if (cd "$W" && dpkg-source -b "ivshmem-$ver") >"$W/source.log" 2>&1; then
		f=$W/ivshmem_$ver.dsc
	else
		tail -5 "$W/source.log"
		host_fail "deb: dpkg-source -b makes a source package (log: $W/source.log)"
		f=""
	fi
	t=$SECONDS
	# shellcheck disable=SC2086 # no .dsc: nothing
	lintian --display-info --pedantic --tag-display-limit 0 \
		"$W/ivshmem_${ver}_amd64.changes" $f >"$W/lintian.log" 2>&1 || true
	grep -v '^running with root privileges' "$W/lintian.log" | sed 's/^/    /'
	local ne nw ni
	ne=$(grep -c '^E: ' "$W/lintian.log" || true)
	nw=$(grep -c '^W: ' "$W/lintian.log" || true)
	ni=$(grep -c '^[IPX]: ' "$W/lintian.log" || true)
	if [ "$ne" -eq 0 ] && grep -q . "$W/ivshmem_${ver}_amd64.changes"; then
		host_ok "deb: lintian: no errors ($nw warnings, $ni infos; binary and source; $((SECONDS - t)) s)"
	else
		host_fail "deb: lintian: $ne errors ($nw warnings)"
	fi

	dc_step "package contents"
	# dc_has DEB PATH...: each PATH (./usr/...) is in DEB
	dc_has() {
		local d=$1 p miss=""
		shift
		dpkg-deb -c "$d" | awk '{ print $6 }' >"$W/contents"
		for p in "$@"; do grep -qxF "$p" "$W/contents" || miss="$miss $p"; done
		[ -z "$miss" ] || { echo "    ${d##*/} lacks:$miss"; return 1; }
	}
	local ma=usr/lib/x86_64-linux-gnu us=./usr/src/ivshmem-$ver
	if dc_has "$W/ivshmem-dkms_${ver}_all.deb" "$us/dkms.conf" "$us/Kbuild" "$us/Makefile" \
		"$us/VERSION" "$us/driver/core.c" "$us/driver/compat.h" "$us/scripts/probe.mk" \
		"$us/uapi/linux/ivshmem.h" &&
	   grep -q "^$us/driver/probes/.*\.c$" "$W/contents" &&
	   ! grep -qE '\.(o|ko|cmd)$' "$W/contents" &&
	   dpkg-deb --fsys-tarfile "$W/ivshmem-dkms_${ver}_all.deb" |
		tar -xO "$us/dkms.conf" >"$W/dkms.conf" &&
	   grep -qx "PACKAGE_VERSION=\"$ver\"" "$W/dkms.conf"; then
		host_ok "deb: ivshmem-dkms has the module's source and dkms.conf (version $ver) in ${us#.}"
	else
		host_fail "deb: ivshmem-dkms has the module's source and dkms.conf in ${us#.}"
	fi
	if dc_has "$W/libivshmem0_${ver}_amd64.deb" "./$ma/libivshmem.so.$ver" "./$ma/libivshmem.so.0" &&
	   [ "$(dpkg-deb -f "$W/libivshmem0_${ver}_amd64.deb" Multi-Arch)" = same ]; then
		host_ok "deb: libivshmem0 has libivshmem.so.0 in /$ma (Multi-Arch: same)"
	else
		host_fail "deb: libivshmem0 has libivshmem.so.0 in /$ma"
	fi
	if dc_has "$W/libivshmem-dev_${ver}_amd64.deb" ./usr/include/libivshmem.h \
		./usr/include/ivshmem-peer.h ./usr/include/linux/ivshmem.h "./$ma/libivshmem.so" \
		"./$ma/libivshmem.a" "./$ma/pkgconfig/libivshmem.pc" \
		./usr/share/man/man3/libivshmem.3.gz ./usr/share/doc/libivshmem-dev/examples/hello.c; then
		host_ok "deb: libivshmem-dev has the headers, libivshmem.so and .a, the .pc, libivshmem(3), examples/hello.c"
	else
		host_fail "deb: libivshmem-dev has the headers, libivshmem.so and .a, the .pc, libivshmem(3), examples/hello.c"
	fi
	if dc_has "$W/ivshmem-tools_${ver}_amd64.deb" ./usr/bin/ivshmem ./usr/sbin/ivshmem-server \
		./usr/lib/udev/rules.d/70-ivshmem.rules ./usr/lib/sysusers.d/ivshmem.conf \
		./usr/share/man/man1/ivshmem.1.gz ./usr/share/man/man8/ivshmem-server.8.gz; then
		host_ok "deb: ivshmem-tools has ivshmem, ivshmem-server, the udev rule, sysusers.d file and man pages"
	else
		host_fail "deb: ivshmem-tools has ivshmem, ivshmem-server, the udev rule, sysusers.d file and man pages"
	fi

	if [ "${DC_BUILD_ONLY:-0}" = 1 ]; then
		echo "deb-check: the packages are in $W"
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		host_skip "deb: install into a bookworm chroot and boot a guest (needs root)"
		return 0
	fi

	dc_step "bookworm chroot"
	chroot=$IVS_BUILD/chroots/bookworm.tar
	export DC_ROOT=$W/root DC_DEBS=$W DC_VER=$ver DC_OUT=$W/payload DC_REPO=$REPO
	t=$SECONDS
	if [ "${IVS_REFRESH:-0}" != 1 ] && [ -f "$chroot" ] && dc_unpack "$chroot" "$DC_ROOT" &&
	   dc_chroot_ok "$DC_ROOT"; then
		echo "deb-check: bookworm chroot unpacked from $chroot ($(cat "$DC_ROOT/.ivs-ready"))"
	elif ! { dc_make_chroot "$chroot" "$IVS_BUILD/chroots/bookworm.log" &&
		 dc_unpack "$chroot" "$DC_ROOT" && dc_chroot_ok "$DC_ROOT"; }; then
		host_fail "deb: a bookworm chroot with linux-headers-amd64 and a working gcc"
		return 0
	fi
	ckver=$(cat "$DC_ROOT/.ivs-ready")
	host_ok "deb: bookworm chroot with the $ckver headers ($((SECONDS - t)) s)"
	mkdir -p "$DC_OUT/lib"
	log=$W/chroot.log

	dc_step "apt-get install ./*.deb in the chroot"
	t=$SECONDS
	# shellcheck disable=SC2016 # expanded in dc_ns
	if dc_ns 'mkdir -p "$M/tmp/debs" && cp "$DC_DEBS"/*_"$DC_VER"_*.deb "$M/tmp/debs/" &&
		rm -f "$M"/tmp/debs/*-dbgsym_*.deb &&
		ch sh -c "cd /tmp/debs && apt-get install -y -q --no-install-recommends ./*.deb pkg-config ||
			{ apt-get update -q && apt-get install -y -q --no-install-recommends ./*.deb pkg-config; }"' \
		>"$log" 2>&1; then
		host_ok "deb: apt-get install ./*.deb resolves the dependencies and installs ($((SECONDS - t)) s)"
	else
		tail -30 "$log"
		host_fail "deb: apt-get install ./*.deb in the chroot (log: $log)"
		return 0
	fi
	sed -n '/Building for/,/^Setting up [^i]/p' "$log" | grep -v '^Setting up' | sed 's/^/    /'

	# shellcheck disable=SC2016
	dc_ns 'ch dkms status' >"$W/dkms-status" 2>&1 || true
	if grep -q "^ivshmem/$ver, $ckver, x86_64: installed" "$W/dkms-status"; then
		host_ok "deb: dkms built and installed ivshmem/$ver for $ckver on installation"
	else
		sed 's/^/    /' "$W/dkms-status"
		host_fail "deb: dkms built and installed ivshmem/$ver for $ckver on installation"
	fi
	# shellcheck disable=SC2016
	dc_ns 'cd "$M" && ls -d usr/lib/modules/*/updates/dkms/ivshmem.ko* 2>/dev/null' >"$W/modules" || true
	if grep -qE "^usr/lib/modules/$ckver/updates/dkms/ivshmem\.ko(\.xz|\.zst|\.gz)?$" "$W/modules"; then
		host_ok "deb: the module is in /$(grep "/$ckver/" "$W/modules")"
	else
		sed 's/^/    /' "$W/modules"
		host_fail "deb: the module is in /lib/modules/$ckver/updates/dkms"
	fi

	# the guest boots env.sh's kernel: the module must be built for that one
	# shellcheck disable=SC2153 # from env.sh (ivs_env)
	gkver=$KVER vmlinuz=$VMLINUZ
	if [ "$ckver" != "$KVER" ]; then
		echo "deb-check: the chroot has $ckver headers, the guest kernel is $KVER"
		# shellcheck disable=SC2016
		if DC_K=$KVER dc_ns 'ch apt-get install -y -q --no-install-recommends "linux-headers-$DC_K" &&
			ch dkms install -m ivshmem -v "$DC_VER" -k "$DC_K"' >>"$log" 2>&1; then
			host_ok "deb: dkms install -k $KVER (headers installed in the chroot for the guest's kernel)"
		else
			tail -20 "$log"
			host_fail "deb: dkms install -k $KVER for the guest's kernel (log: $log)"
			gkver=""
		fi
	fi

	# shellcheck disable=SC2016
	dc_ns 'cd "$M"
		for f in usr/src/ivshmem-$DC_VER/dkms.conf usr/src/ivshmem-$DC_VER/driver/core.c \
			usr/lib/x86_64-linux-gnu/libivshmem.so.0 usr/lib/x86_64-linux-gnu/libivshmem.so \
			usr/lib/x86_64-linux-gnu/libivshmem.a usr/lib/x86_64-linux-gnu/pkgconfig/libivshmem.pc \
			usr/include/libivshmem.h usr/include/ivshmem-peer.h usr/include/linux/ivshmem.h \
			usr/bin/ivshmem usr/sbin/ivshmem-server usr/lib/udev/rules.d/70-ivshmem.rules \
			usr/lib/sysusers.d/ivshmem.conf usr/share/man/man1/ivshmem.1.gz \
			usr/share/man/man3/libivshmem.3.gz usr/share/man/man8/ivshmem-server.8.gz; do
			[ -e "$f" ] || echo "missing: /$f"
		done
		cmp -s usr/lib/udev/rules.d/70-ivshmem.rules "$DC_REPO/userspace/udev/70-ivshmem.rules" ||
			echo "70-ivshmem.rules differs from the tree'"'"'s"' >"$W/files" 2>&1 || true
	if [ ! -s "$W/files" ]; then
		host_ok "deb: the files are where they belong (/usr/src, /usr/lib/x86_64-linux-gnu, /usr/include, /usr/bin, /usr/sbin, /usr/lib/udev/rules.d, /usr/lib/sysusers.d, man)"
	else
		sed 's/^/    /' "$W/files"
		host_fail "deb: the files are where they belong"
	fi
	# shellcheck disable=SC2016
	if dc_ns 'ch getent group ivshmem' >"$W/group" 2>&1; then
		host_ok "deb: the postinst created the system group: $(cat "$W/group")"
	else
		host_fail "deb: the postinst created the group ivshmem"
	fi
	# shellcheck disable=SC2016
	dc_ns 'ch ldconfig -p' >"$W/ldconfig" 2>&1 || true
	if grep -q 'libivshmem.so.0 (libc6,x86-64) => .*/x86_64-linux-gnu/libivshmem.so.0$' "$W/ldconfig"; then
		host_ok "deb: ldconfig knows libivshmem.so.0"
	else
		host_fail "deb: ldconfig knows libivshmem.so.0"
	fi
	# shellcheck disable=SC2016
	if [ "$(dc_ns 'ch ivshmem --version' 2>&1)" = "ivshmem $ver" ] &&
	   dc_ns 'ch ivshmem-server -h' >"$W/server-help" 2>&1; then
		host_ok "deb: the installed ivshmem and ivshmem-server run (ivshmem $ver)"
	else
		host_fail "deb: the installed ivshmem and ivshmem-server run"
	fi

	dc_step "a program built with pkg-config alone"
	# shellcheck disable=SC2016
	if dc_ns 'cp "$DC_REPO/userspace/examples/hello.c" "$M/tmp/hello.c"
		printf "#include <sys/ioctl.h>\n#include <linux/ivshmem.h>\nint main(void) { return IVSHMEM_IOCTL_INFO == 0; }\n" >"$M/tmp/uapi.c"
		ch sh -ec "cd /tmp
			echo \"pkg-config --modversion: \$(pkg-config --modversion libivshmem)\"
			echo \"cflags and libs: \$(pkg-config --cflags --libs libivshmem)\"
			[ \"\$(pkg-config --modversion libivshmem)\" = $DC_VER ]
			gcc -O2 -Wall -Wextra -Werror -o hello hello.c \$(pkg-config --cflags --libs libivshmem)
			gcc -O2 -Wall -o hello-static hello.c \$(pkg-config --cflags libivshmem) \
				/usr/lib/x86_64-linux-gnu/libivshmem.a \$(pkg-config --libs libudev)
			gcc -O2 -Wall -Werror -o uapi uapi.c
			./uapi
			"
		cp "$M/tmp/hello" "$DC_OUT/"' >"$W/pkg-config.log" 2>&1; then
		sed -n 's/^\(pkg-config\|cflags\)/    &/p' "$W/pkg-config.log"
		host_ok "deb: hello.c builds and links in the chroot with \`pkg-config --cflags --libs libivshmem\` alone; also against libivshmem.a, and <linux/ivshmem.h> with no flags"
	else
		sed 's/^/    /' "$W/pkg-config.log"
		host_fail "deb: hello.c builds in the chroot with pkg-config alone"
	fi

	# the payload: all from the chroot
	# shellcheck disable=SC2016
	DC_K=$gkver dc_ns 'cp -L "$M/usr/bin/ivshmem" "$DC_OUT/"
		cp -L "$M/usr/lib/x86_64-linux-gnu/libivshmem.so.0" "$DC_OUT/lib/"
		if [ -n "$DC_K" ]; then
			for ko in "$M/usr/lib/modules/$DC_K/updates/dkms/ivshmem.ko"*; do
				case "$ko" in
				*.xz) xz -dc "$ko" ;; *.zst) zstd -qdc "$ko" ;; *.gz) gzip -dc "$ko" ;;
				*) cat "$ko" ;;
				esac >"$DC_OUT/ivshmem.ko"
			done
		fi' >>"$log" 2>&1 || true

	dc_step "purge"
	# shellcheck disable=SC2016
	if dc_ns 'ch apt-get purge -y -q ivshmem-dkms ivshmem-tools libivshmem-dev libivshmem0' \
		>"$W/purge.log" 2>&1 &&
	   dc_ns 'cd "$M"; ls -d var/lib/dkms/ivshmem usr/src/ivshmem-* usr/lib/modules/*/updates/dkms/ivshmem.ko* \
		usr/lib/x86_64-linux-gnu/libivshmem* usr/include/libivshmem.h usr/include/linux/ivshmem.h \
		usr/bin/ivshmem usr/lib/udev/rules.d/70-ivshmem.rules 2>/dev/null || true' >"$W/left" 2>&1 &&
	   [ ! -s "$W/left" ]; then
		host_ok "deb: apt-get purge removes the module (dkms remove), the dkms tree and every file"
	else
		tail -5 "$W/purge.log"
		sed 's/^/    left: /' "$W/left"
		host_fail "deb: apt-get purge removes the module, the dkms tree and every file"
	fi

	dc_step "guest: the DKMS-built module and the packaged CLI"
	if [ -z "$gkver" ] || [ ! -s "$DC_OUT/ivshmem.ko" ] || [ ! -f "$DC_OUT/ivshmem" ]; then
		host_fail "deb: a payload for the guest (module for ${gkver:-no kernel}, CLI)"
		return 0
	fi
	local vm
	vm=$(modinfo -F vermagic "$DC_OUT/ivshmem.ko" 2>/dev/null || true)
	if [ "${vm%% *}" = "$gkver" ]; then
		host_ok "deb: vermagic of the DKMS-built module is $gkver"
	else
		host_fail "deb: vermagic of the DKMS-built module is '$vm', not $gkver"
	fi
	cp "$HERE/guest/deb.sh" "$DC_OUT/"
	"$IVS_REPO/selftests/ivshmem/vmtest.sh" initramfs "$W/initrd.gz" "$DC_OUT"
	f=$(ivs_shm_file deb 1M)
	printf 'host-to-deb-guest' | dd of="$f" bs=1 seek=$((0x2000)) conv=notrunc status=none
	# shellcheck disable=SC2046 # ivs_plain_dev prints several arguments
	IVS_PLANS=1 ivs_guest deb "$W/initrd.gz" deb.sh --kernel "$vmlinuz" --mem 256 \
		--append "ivs.slot=10 ivs.size=1048576 ivs.version=$ver" -- \
		$(ivs_plain_dev deb "$f"),addr=0x10 || true
	if [ "$(dd if="$f" bs=1 skip=$((0x3000)) count=17 status=none)" = deb-guest-to-host ]; then
		host_ok "deb: what the packaged ivshmem wrote reached the host's backing file"
	else
		host_fail "deb: what the packaged ivshmem wrote reached the host's backing file"
	fi
	if [ "$(dd if="$f" bs=1 count=31 status=none)" = "hello from the packaged library" ]; then
		host_ok "deb: what hello (pkg-config build) wrote reached the host's backing file"
	else
		host_fail "deb: what hello (pkg-config build) wrote reached the host's backing file"
	fi
	rm -rf "$DC_ROOT"
	echo "deb-check: done in $((SECONDS - DC_T0)) s"
	return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	# shellcheck source=lib.sh disable=SC1091
	. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
	if [ "${1:-}" = build ]; then
		DC_BUILD_ONLY=1
	else
		echo "=== deb-check: dependencies"
		"$IVS_CI/deps.sh"
		"$IVS_CI/prepare.sh" "$IVS_BUILD" >/dev/null
		ivs_env
	fi
	deb_check_main || true
	echo
	echo "=== deb-check: summary"
	ivs_summary
fi
