#!/bin/bash
# kselftest-tree.sh [BUILD]: does selftests/ivshmem work unchanged as
# tools/testing/selftests/ivshmem of a kernel tree? Unpacks a minimal
# tools/testing/selftests (its Makefile, lib.mk, the kselftest headers and
# runner, scripts/subarch.include) from /usr/src/linux-source-6.1.tar.xz into
# BUILD/kselftest-tree (BUILD: $IVS_BUILD, default <repo>/build), copies the
# folder in, puts uapi/linux/ivshmem.h where the tree's installed headers go
# (usr/include/linux/), then runs the kernel's own
#   make -C tools/testing/selftests TARGETS=ivshmem [install|run_tests]
# and, in this repository, `make -C selftests/ivshmem install`. Prints TAP
# (plan first); exits non-zero if anything failed. Needs make, gcc, rsync
# (lib.mk's install) and the linux-source-6.1 package.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${IVS_BUILD:-$REPO/build}}
SRC_TAR=/usr/src/linux-source-6.1.tar.xz
S=$BUILD/kselftest-tree
T=$S/linux/tools/testing/selftests
LOG=$S/log
n=0 failed=0

ok() { n=$((n + 1)); echo "ok $n - kselftest tree: $*"; }
nok() { n=$((n + 1)); echo "not ok $n - kselftest tree: $*"; failed=1; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
show() { echo "# $1:"; tail -n 15 "$1" | sed 's/^/#   /'; }

echo "1..9"
rm -rf "$S"
mkdir -p "$S/linux" "$LOG"

# 1. the tree
if [ -f "$SRC_TAR" ] && tar -xJf "$SRC_TAR" -C "$S/linux" --strip-components=1 --wildcards \
	'*/tools/testing/selftests/Makefile' '*/tools/testing/selftests/lib.mk' \
	'*/tools/testing/selftests/kselftest*' '*/tools/testing/selftests/run_kselftest.sh' \
	'*/scripts/subarch.include' 2>"$LOG/tar.log"; then
	ok "a minimal tools/testing/selftests from ${SRC_TAR##*/}"
else
	show "$LOG/tar.log"
	nok "a minimal tools/testing/selftests from $SRC_TAR (install linux-source-6.1)"
	for d in builds "against the tree's headers" "install: run_kselftest.sh" \
		 "install: every test listed" "install: every program" run_tests \
		 "standalone: builds" "standalone: install"; do
		nok "$d (no tree)"
	done
	exit 1
fi
# the folder as it would be merged: its sources, not build outputs
# shellcheck disable=SC2015 # find only when git cannot list them
(cd "$REPO" && git ls-files -co --exclude-standard -- selftests/ivshmem 2>/dev/null ||
	find selftests/ivshmem -type f ! -name '*.o' ! -name '*.ko') |
	while IFS= read -r f; do
		[ -f "$REPO/$f" ] || continue
		case "$f" in */ptecheck/*) continue ;; esac
		mkdir -p "$T/ivshmem/$(dirname "${f#selftests/ivshmem/}")"
		cp -p "$REPO/$f" "$T/ivshmem/${f#selftests/ivshmem/}"
	done
# what `make headers` would have installed
mkdir -p "$S/linux/usr/include/linux"
cp "$REPO/uapi/linux/ivshmem.h" "$S/linux/usr/include/linux/"

# the program lists of the folder's Makefile, as lib.mk sees them
# shellcheck disable=SC2016 # make expands them
lists=$(printf 'ivs_lists:\n\t@echo "$(notdir $(TEST_GEN_PROGS))"\n\t@echo "$(notdir $(TEST_GEN_PROGS_EXTENDED))"\n' |
	make -s --no-print-directory -C "$T/ivshmem" -f Makefile -f - ivs_lists) || lists=""
tests=$(sed -n 1p <<<"$lists")
extended=$(sed -n 2p <<<"$lists")
echo "# TEST_GEN_PROGS: ${tests:-none}"
echo "# TEST_GEN_PROGS_EXTENDED: ${extended:-none}"

# 2, 3. make -C tools/testing/selftests TARGETS=ivshmem
built=1
if make -C "$T" TARGETS=ivshmem >"$LOG/build.log" 2>&1; then
	for p in $tests $extended; do
		[ -x "$T/ivshmem/$p" ] || { echo "# $p was not built"; built=0; }
	done
	[ -n "$tests" ] || built=0
else
	show "$LOG/build.log"
	built=0
fi
check "make -C tools/testing/selftests TARGETS=ivshmem builds $(wc -w <<<"$tests $extended") programs" \
	[ $built = 1 ]
# no path back into this repository: uapi/ is not there in a tree
check "... with <linux/ivshmem.h> from the tree's usr/include" \
	sh -c "grep -q -- '-isystem $S/linux/usr/include' '$LOG/build.log' &&
		! grep -q -- '-I[^ ]*/uapi' '$LOG/build.log'"

# 4-6. install
I=$S/install
if make -C "$T" TARGETS=ivshmem KSFT_INSTALL_PATH="$I" install >"$LOG/install.log" 2>&1; then
	check "install puts run_kselftest.sh in KSFT_INSTALL_PATH" [ -x "$I/run_kselftest.sh" ]
	miss=""
	for p in $tests; do
		grep -qx "ivshmem:$p" "$I/kselftest-list.txt" 2>/dev/null || miss+=" $p"
	done
	check "install: kselftest-list.txt lists every TEST_GEN_PROGS program${miss:+ (missing:$miss)}" \
		[ -n "$tests" -a -z "$miss" ]
	miss=""
	for p in $tests $extended config settings; do
		[ -e "$I/ivshmem/$p" ] || miss+=" $p"
	done
	check "install: the programs, config and settings are in ivshmem/${miss:+ (missing:$miss)}" \
		[ -z "$miss" ]
else
	show "$LOG/install.log"
	nok "install puts run_kselftest.sh in KSFT_INSTALL_PATH (make install failed)"
	nok "install: kselftest-list.txt lists every TEST_GEN_PROGS program"
	nok "install: the programs, config and settings are in ivshmem/"
fi

# 7. run_tests: with no ivshmem device on this host every test SKIPs, so
# this only checks the runner and the KTAP; on a host with devices the
# tests would unbind them: left out.
if [ -e /sys/class/ivshmem ]; then
	ok "run_tests # SKIP this host has ivshmem devices"
elif make -C "$T" TARGETS=ivshmem run_tests >"$LOG/run_tests.log" 2>&1 &&
	grep -q '^TAP version 13' "$LOG/run_tests.log" &&
	[ "$(grep -cE '^ok [0-9]+ selftests: ivshmem: ' "$LOG/run_tests.log")" = "$(wc -w <<<"$tests")" ] &&
	! grep -qE '^not ok' "$LOG/run_tests.log"; then
	ok "make ... TARGETS=ivshmem run_tests: KTAP, every program ok or SKIP (no devices here)"
else
	show "$LOG/run_tests.log"
	nok "make ... TARGETS=ivshmem run_tests: KTAP, every program ok or SKIP (no devices here)"
fi

# 8, 9. and in this repository, on the kselftest files of the tree above
O=$S/standalone
# shellcheck disable=SC2086 # $tests: one word per program
want=$(printf 'ivshmem:%s ' $tests)
check "standalone: make -C selftests/ivshmem builds (KSELFTEST_DIR, OUTPUT)" \
	sh -c "make -C '$REPO/selftests/ivshmem' KSELFTEST_DIR='$T' OUTPUT='$O/out' >'$LOG/standalone.log' 2>&1"
if make -C "$REPO/selftests/ivshmem" KSELFTEST_DIR="$T" OUTPUT="$O/out" \
	INSTALL_PATH="$O/install" install >>"$LOG/standalone.log" 2>&1 &&
	[ -x "$O/install/run_kselftest.sh" ] &&
	[ "$("$O/install/run_kselftest.sh" --list | tr '\n' ' ')" = "$want" ]; then
	ok "standalone: make install INSTALL_PATH=DIR gives DIR/run_kselftest.sh listing the tests"
else
	show "$LOG/standalone.log"
	nok "standalone: make install INSTALL_PATH=DIR gives DIR/run_kselftest.sh listing the tests"
fi
exit $failed
