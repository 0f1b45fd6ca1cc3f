#!/bin/bash
# targets.sh [SCRATCH]: every make target README names, as TAP ("ok N - make
# X ..." / "not ok N - ...", the plan "1..N" last). make check runs it.
#
# The cheap targets run for real: make, make module, make userspace,
# make W=1, make sparse, make checkpatch, make install into a DESTDIR with
# and without WITH_MODULE=0, make and make module and make install with KDIR
# naming a missing directory (one line, the userspace still built by make),
# make clean (build caches stay) and make distclean. The expensive ones
# (check, check-loaded, demo, bench, matrix, deb, deb-check: make check runs
# them itself or they have their own lanes) must resolve under `make -n` to
# scripts that exist and parse. A last test fails when README names a
# target that has no test here.
#
# Everything runs in copies of the tree (its tracked files, as they are in
# the working tree) under SCRATCH (default: a temporary directory, removed
# at exit), each with its own build directory, so that a make check running
# in the tree itself is never disturbed. Kernel headers: KDIR, else the one
# of $IVS_BUILD/env.sh (ci/prepare.sh), else the running kernel's; without
# any, the tests that need them are skipped. checkpatch.pl: CHECKPATCH, else
# env.sh's.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
IVS_BUILD=${IVS_BUILD:-$REPO/build}
TIMEOUT=${IVS_TARGET_TIMEOUT:-900}

if [ -f "$IVS_BUILD/env.sh" ]; then
	# only what is not set already
	# shellcheck source=/dev/null
	KDIR=${KDIR:-$(. "$IVS_BUILD/env.sh" && echo "$KDIR")}
	# shellcheck source=/dev/null
	CHECKPATCH=${CHECKPATCH:-$(. "$IVS_BUILD/env.sh" && echo "$CHECKPATCH")}
fi
KDIR=${KDIR:-/lib/modules/$(uname -r)/build}
CHECKPATCH=${CHECKPATCH:-}
HAVE_KDIR=0
[ -f "$KDIR/Makefile" ] && HAVE_KDIR=1
MISSING=/nonexistent/ivshmem-no-headers

if [ -n "${1:-}" ]; then
	S=$1
	rm -rf "$S"
	mkdir -p "$S"
else
	S=$(mktemp -d "${TMPDIR:-/tmp}/ivs-targets.XXXXXX")
	trap 'rm -rf "$S"' EXIT
fi
S=$(cd "$S" && pwd)

# The package the Makefile should name: linux-headers-$(uname -r) on Debian
# and Ubuntu.
HEADERS_PKG=
if (. /etc/os-release 2>/dev/null && echo " $ID ${ID_LIKE:-} ") | grep -qE ' (debian|ubuntu) '; then
	HEADERS_PKG=linux-headers-$(uname -r)
fi

# Results: each chain of tests below prints "ok - ..." / "not ok - ..."
# lines and "# ..." diagnostics into a file of its own; the two chains run
# side by side (one per core) and their results are numbered at the end.
ok() { echo "ok - $*"; }
skip() { echo "ok - $* # SKIP"; }
notok() { echo "not ok - $*"; }
# diag LOG [LINES]: the end of a log as TAP diagnostics
diag() { tail -n "${2:-15}" "$1" | sed 's/^/# /'; }

# copy_tree DIR: the tree's tracked files as they are now (all files but
# build/ when this is no git checkout)
copy_tree() {
	mkdir -p "$1"
	if [ "$(git -C "$REPO" rev-parse --show-toplevel 2>/dev/null)" = "$REPO" ]; then
		git -C "$REPO" ls-files -z --cached |
			tar -C "$REPO" --null --ignore-failed-read -T - -cf - 2>/dev/null
	else
		tar -C "$REPO" --exclude=./build -cf - .
	fi | tar -C "$1" -xf -
}

# mk DIR LOG ARGS...: make in DIR, isolated from any make above us and with
# DIR/build as its build directory; its status
mk() {
	local dir=$1 log=$2
	shift 2
	(cd "$dir" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
		-u BUILD -u W -u C -u V -u KERNELRELEASE -u KDIR -u CHECKPATCH \
		-u DESTDIR -u PREFIX -u WITH_MODULE -u KERNELS \
		IVS_BUILD="$dir/build" timeout "$TIMEOUT" make "$@") >"$log" 2>&1
}

# lines LOG: non-empty lines of LOG, not counting make's directory notes
lines() { grep -cvE '^$|^make(\[[0-9]+\])?: (Entering|Leaving) directory' "$1"; }

USERSPACE_OUT=(userspace/lib/libivshmem.so.0.1.0 userspace/lib/libivshmem.a
	       userspace/tools/ivshmem userspace/server/ivshmem-server)
# has_all DIR FILES...: all exist
has_all() {
	local d=$1 f
	shift
	for f; do [ -e "$d/$f" ] || { echo "# missing: $f"; return 1; }; done
}

# installed_userspace DESTDIR: the files make -C userspace install puts in
installed_userspace() {
	has_all "$1" usr/local/bin/ivshmem usr/local/sbin/ivshmem-server \
		usr/local/lib/libivshmem.so.0.1.0 usr/local/include/libivshmem.h \
		usr/local/include/linux/ivshmem.h usr/local/lib/pkgconfig/libivshmem.pc \
		etc/systemd/system/ivshmem-server@.service etc/systemd/system/ivshmem-server@.socket
}
# pkg_named LOG: LOG names the headers package (when we know its name)
pkg_named() { [ -z "$HEADERS_PKG" ] || grep -qF "$HEADERS_PKG" "$1"; }

T=$S/tree U=$S/userspace X=$S/noheaders L=$S/logs
mkdir -p "$L"
if ! { copy_tree "$T" && copy_tree "$U" && copy_tree "$X"; }; then
	echo "not ok 1 - copy the tree into $S"
	echo "1..1"
	exit 1
fi
(cd "$T" && find . -type f) >"$L/manifest"
mkdir -p "$T/build"

# The tree T: make, then W=1, sparse, checkpatch, install, clean, distclean
# on what the previous ones left.
chain_tree() {
	# --- make ---------------------------------------------------------------
	if [ "$HAVE_KDIR" = 0 ]; then
		skip "make builds the module and the userspace: no kernel headers (KDIR=$KDIR)"
	elif mk "$T" "$L/make.log" KDIR="$KDIR" && has_all "$T" ivshmem.ko "${USERSPACE_OUT[@]}" &&
		! grep -q 'module skipped' "$L/make.log"; then
		ok "make builds the module and the userspace"
	else
		notok "make builds the module and the userspace"; diag "$L/make.log"
	fi

	# --- make W=1: Kbuild rebuilds the module with W=1's flags ----------------
	if [ "$HAVE_KDIR" = 0 ]; then
		skip "make W=1: no kernel headers"
	elif mk "$T" "$L/w1.log" W=1 KDIR="$KDIR" && has_all "$T" ivshmem.ko &&
		grep -q -- '-Wmissing-declarations' "$T/driver/.core.o.cmd"; then
		ok "make W=1 builds the module with W=1's warnings on ($(grep -c 'warning:' "$L/w1.log") warnings)"
	else
		notok "make W=1 builds the module with W=1's warnings on"; diag "$L/w1.log"
	fi

	# --- make sparse -------------------------------------------------------------
	if [ "$HAVE_KDIR" = 0 ]; then
		skip "make sparse: no kernel headers"
	elif ! command -v sparse >/dev/null; then
		skip "make sparse: sparse is not installed (ci/deps.sh installs it)"
	elif mk "$T" "$L/sparse.log" sparse KDIR="$KDIR" &&
		[ "$(grep -cE '^ +CHECK +.*driver/' "$L/sparse.log")" -ge 5 ]; then
		ok "make sparse checks the module's sources ($(grep -cE 'warning:|error:' "$L/sparse.log") findings)"
	else
		notok "make sparse checks the module's sources"; diag "$L/sparse.log"
	fi

	# --- make checkpatch -----------------------------------------------------
	if [ ! -f "$CHECKPATCH" ]; then
		skip "make checkpatch: no checkpatch.pl (run ci/prepare.sh)"
	elif mk "$T" "$L/checkpatch.log" checkpatch CHECKPATCH="$CHECKPATCH" &&
		grep -qE '^checkpatch: [0-9]+ files clean$' "$L/checkpatch.log"; then
		ok "make checkpatch: $(grep '^checkpatch:' "$L/checkpatch.log" | tail -n 1 | sed 's/^checkpatch: //')"
	else
		notok "make checkpatch is clean"; diag "$L/checkpatch.log"
	fi

	if [ "$HAVE_KDIR" = 0 ]; then
		skip "make install DESTDIR=...: no kernel headers"
	elif mk "$T" "$L/install.log" install DESTDIR="$S/dest1" KDIR="$KDIR" &&
		[ -n "$(find "$S/dest1/lib/modules" -path '*/extra/ivshmem.ko' 2>/dev/null)" ] &&
		installed_userspace "$S/dest1"; then
		ok "make install DESTDIR=... installs the module and the userspace"
	else
		notok "make install DESTDIR=... installs the module and the userspace"
		diag "$L/install.log"
	fi
	# --- make clean: outputs go, caches stay ----------------------------------
	CACHES=(build/env.sh build/kernels/k/boot/vmlinuz build/chroots/trixie/bin/sh
		build/debs/linux-image.deb build/linux-src/scripts/checkpatch.pl
		build/deb/ivshmem-tools.deb build/debug-kernel/vmlinuz)
	for f in "${CACHES[@]}" build/check/x.log build/logs/g.log; do
		mkdir -p "$(dirname "$T/$f")" && echo cache >"$T/$f"
	done
	tracked_left() { # DIR: the copied source files are all still there
		local f
		while IFS= read -r f; do
			[ -e "$1/$f" ] || { echo "# gone: $f"; return 1; }
		done <"$L/manifest"
	}
	# outputs_left: up to 5 build outputs left in the test tree
	outputs_left() {
		(cd "$T" && {
			find . \( -name '*.ko' -o -name '*.o' -o -name '*.mod.c' \
				-o -name Module.symvers \) ! -path './build/*'
			for f in "${USERSPACE_OUT[@]}"; do [ ! -e "$f" ] || echo "$f"; done
		} | head -n 5)
		return 0
	}
	if [ -z "$(outputs_left)" ]; then
		notok "make clean: the test tree had no build outputs to clean"
	elif mk "$T" "$L/clean.log" clean && has_all "$T" "${CACHES[@]}" &&
		[ ! -e "$T/build/check" ] && [ ! -e "$T/build/logs" ] && tracked_left "$T" &&
		[ -z "$(outputs_left)" ]; then
		ok "make clean removes build outputs, build/check and build/logs; caches in build/ stay"
	else
		notok "make clean removes build outputs, build/check and build/logs; caches in build/ stay"
		left=$(outputs_left)
		[ -z "$left" ] || echo "# left: ${left//$'\n'/ }"
		diag "$L/clean.log"
	fi
	if mk "$T" "$L/distclean.log" distclean && [ ! -e "$T/build" ] && tracked_left "$T"; then
		ok "make distclean removes build/ as well"
	else
		notok "make distclean removes build/ as well"; diag "$L/distclean.log"
	fi
}

# The trees U and X: make userspace, make module, install without the
# module and without headers, make without headers; then the expensive
# targets and README.
chain_other() {
	# --- make userspace, make module -----------------------------------------
	if mk "$U" "$L/userspace.log" userspace && has_all "$U" "${USERSPACE_OUT[@]}" &&
		[ ! -e "$U/ivshmem.ko" ]; then
		ok "make userspace builds libivshmem, the CLI and ivshmem-server, no module"
	else
		notok "make userspace builds libivshmem, the CLI and ivshmem-server, no module"
		diag "$L/userspace.log"
	fi
	if [ "$HAVE_KDIR" = 0 ]; then
		skip "make module builds ivshmem.ko: no kernel headers"
	elif mk "$U" "$L/module.log" module KDIR="$KDIR" && has_all "$U" ivshmem.ko; then
		ok "make module builds ivshmem.ko"
	else
		notok "make module builds ivshmem.ko"; diag "$L/module.log"
	fi

	if mk "$U" "$L/install-nomod.log" install WITH_MODULE=0 KDIR="$MISSING" DESTDIR="$S/dest2" &&
		installed_userspace "$S/dest2" && [ ! -e "$S/dest2/lib/modules" ]; then
		ok "make install WITH_MODULE=0 installs the userspace alone, no headers needed"
	else
		notok "make install WITH_MODULE=0 installs the userspace alone, no headers needed"
		diag "$L/install-nomod.log"
	fi
	if ! mk "$U" "$L/install-noheaders.log" install KDIR="$MISSING" DESTDIR="$S/dest3" &&
		[ "$(lines "$L/install-noheaders.log")" -eq 1 ] &&
		grep -q 'WITH_MODULE=0' "$L/install-noheaders.log" &&
		grep -q 'DKMS' "$L/install-noheaders.log" && [ ! -e "$S/dest3" ]; then
		ok "make install without headers fails with one line: $(grep -v directory "$L/install-noheaders.log" | sed 's/^Makefile:[0-9]*: \*\*\* //; s/\.  Stop\.$//')"
	else
		notok "make install without headers fails with one line naming WITH_MODULE=0 and DKMS"
		diag "$L/install-noheaders.log"
	fi

	# --- make, make module without headers -------------------------------------
	# pkg_named LOG: LOG names the headers package (when we know its name)
pkg_named() { [ -z "$HEADERS_PKG" ] || grep -qF "$HEADERS_PKG" "$1"; }
	if mk "$X" "$L/make-noheaders.log" KDIR="$MISSING" &&
		has_all "$X" "${USERSPACE_OUT[@]}" && [ ! -e "$X/ivshmem.ko" ] &&
		[ "$(grep -c 'module skipped' "$L/make-noheaders.log")" -eq 1 ] &&
		pkg_named "$L/make-noheaders.log" &&
		! grep -qE '\*\*\*|No such file|No rule to make' "$L/make-noheaders.log"; then
		ok "make without headers builds the userspace and says in one line: $(grep 'module skipped' "$L/make-noheaders.log")"
	else
		notok "make without headers builds the userspace, one line names ${HEADERS_PKG:-the headers package}"
		diag "$L/make-noheaders.log"
	fi
	if ! mk "$X" "$L/module-noheaders.log" module KDIR="$MISSING" &&
		[ "$(lines "$L/module-noheaders.log")" -eq 1 ] && pkg_named "$L/module-noheaders.log"; then
		ok "make module without headers fails with one line naming ${HEADERS_PKG:-the headers package}"
	else
		notok "make module without headers fails with one line naming ${HEADERS_PKG:-the headers package}"
		diag "$L/module-noheaders.log"
	fi

	# --- the expensive targets: what make -n runs exists and parses -------------
	# dry TARGET [ARGS]: every "bash ci/X.sh" line of make -n TARGET
	dry() {
		local target=$1 log=$L/dry-$1.log scripts s bad=""
		shift
		if ! mk "$U" "$log" -n "$target" "$@"; then
			notok "make -n $target resolves"; diag "$log"; return
		fi
		scripts=$(sed -nE 's/^.*bash (ci\/[A-Za-z0-9_.-]+\.sh).*$/\1/p' "$log")
		for s in $scripts; do
			[ -f "$U/$s" ] && bash -n "$U/$s" 2>>"$log" || bad="$bad $s"
		done
		if [ -z "$scripts" ]; then
			notok "make $target: make -n runs no ci/ script"; diag "$log"
		elif [ -n "$bad" ]; then
			notok "make $target: missing or not parsing:$bad"; diag "$log"
		else
			ok "make $target resolves to ${scripts//$'\n'/ }, which exists and parses"
		fi
	}
	dry check
	dry check-loaded
	dry demo
	dry bench
	dry matrix KERNELS="6.1 6.12 7.x"
	dry deb
	dry deb-check

	# --- every target README names has a test above ---------------------------
	TESTED=" all module userspace W=1 sparse checkpatch install clean distclean check check-loaded demo bench matrix deb deb-check "
	untested=""
	for t in $(grep -oE '(`|^ +|&& )make( [A-Za-z][A-Za-z0-9=_-]*)?' "$REPO/README" |
		sed -E 's/^[`& ]*make *//; s/^$/all/' | sort -u); do
		case "$TESTED" in *" $t "*) ;; *) untested="$untested make $t" ;; esac
	done
	if [ -z "$untested" ]; then
		ok "every make target README names is tested here"
	else
		notok "README names targets with no test here:$untested"
	fi
}

chain_tree >"$L/tree.tap" 2>&1 &
tree_pid=$!
chain_other >"$L/other.tap" 2>&1
wait "$tree_pid"

N=0 FAILS=0
while IFS= read -r line; do
	case "$line" in
	"ok - "*) N=$((N + 1)); echo "ok $N - ${line#ok - }" ;;
	"not ok - "*) N=$((N + 1)) FAILS=$((FAILS + 1)); echo "not ok $N - ${line#not ok - }" ;;
	*) echo "$line" ;;
	esac
done < <(cat "$L/tree.tap" "$L/other.tap")
echo "1..$N"
[ "$FAILS" -eq 0 ]
