#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Host-only tests of libivshmem's channels (lib/channel.c) over host peers
# of ivshmem-server: two host peers share memory and doorbells exactly as
# two guests do. The library and the tests are built with
# -fsanitize=address,undefined.
#
# Usage: userspace/tests/run-chan-tests.sh [BUILD_DIR]
#
# Prints TAP. Set CC to use another compiler.

set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
ROOT=$(cd "$SRC/.." && pwd)
BUILD=${1:-$ROOT/build/chan-tests}
CC=${CC:-gcc}
mkdir -p "$BUILD" || exit 1
BUILD=$(cd "$BUILD" && pwd)

n=0
failed=0
start=$(date +%s)

say_ok() { n=$((n + 1)); echo "ok $n - $*"; }
say_not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
comment() { sed 's/^/# /'; }

# run a test program; number its "ok - " / "not ok - " lines
run_tap() {
	local name=$1 line status seen_fail=0
	shift
	while IFS= read -r line; do
		case $line in
		"ok - "*) say_ok "${line#ok - }" ;;
		"not ok - "*) say_not_ok "${line#not ok - }"; seen_fail=1 ;;
		"__status__ "*) status=${line#__status__ } ;;
		"#"*) echo "$line" ;;
		*) echo "# $line" ;;
		esac
	done < <("$@" 2>&1; echo "__status__ $?")
	if [ "${status:-1}" -ge 128 ] || { [ "${status:-1}" -ne 0 ] && [ $seen_fail -eq 0 ]; }; then
		say_not_ok "$name exited with status ${status:-?}"
	fi
}

# compile; a test passes only if the compiler printed nothing
build() {
	local what=$1 out
	shift
	if out=$("$CC" "$@" 2>&1) && [ -z "$out" ]; then
		say_ok "build: $what"
	else
		say_not_ok "build: $what"
		printf '%s\n' "$out" | comment
		return 1
	fi
}

echo "# build directory: $BUILD"
WARN=(-std=gnu11 -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes -Wmissing-prototypes
      -Wno-missing-field-initializers)
SAN=("${WARN[@]}" -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
     -fno-sanitize-recover=undefined)
INC=(-I"$ROOT/uapi" -I"$SRC/lib" -D_FILE_OFFSET_BITS=64)
LIB=("$SRC/lib/channel.c" "$SRC/lib/peer.c" "$SRC/lib/dev.c" "$SRC/lib/event.c"
     "$SRC/lib/enum.c" -ludev -lpthread)

build "ivshmem-server" -std=gnu11 -O2 -o "$BUILD/ivshmem-server" \
	"$SRC/server/ivshmem-server.c" || exit 1
build "channel.c, -O2 -D_FORTIFY_SOURCE=2 with the Makefile's warnings, no warnings" \
	"${WARN[@]}" -O2 -D_FORTIFY_SOURCE=2 "${INC[@]}" -fPIC -c -o "$BUILD/channel.o" \
	"$SRC/lib/channel.c" || exit 1
build "test-chan (library with sanitizers)" "${SAN[@]}" "${INC[@]}" \
	-o "$BUILD/test-chan" "$HERE/test-chan.c" "${LIB[@]}" || exit 1
if [ -f "$HERE/test-chan-hostile.c" ]; then
	build "test-chan-hostile (library with sanitizers)" "${SAN[@]}" "${INC[@]}" \
		-o "$BUILD/test-chan-hostile" "$HERE/test-chan-hostile.c" "${LIB[@]}" || exit 1
fi
build "chan-peer (the guests' participant, sanitizers)" "${SAN[@]}" "${INC[@]}" \
	-o "$BUILD/chan-peer-san" "$HERE/chan-peer.c" "${LIB[@]}" || exit 1
build "chan-scribble" "${WARN[@]}" -O2 -o "$BUILD/chan-scribble" "$HERE/chan-scribble.c" || exit 1
build "examples/chan-pipe.c (library with sanitizers)" "${SAN[@]}" "${INC[@]}" \
	-o "$BUILD/chan-pipe" "$SRC/examples/chan-pipe.c" "${LIB[@]}" || exit 1
if [ -f "$HERE/chan-bench.c" ]; then
	build "chan-bench" "${WARN[@]}" -O2 "${INC[@]}" \
		-o "$BUILD/chan-bench" "$HERE/chan-bench.c" "${LIB[@]}" || exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

echo "# --- channels between two host peers"
run_tap test-chan timeout 120 "$BUILD/test-chan" "$BUILD/ivshmem-server"
if [ -x "$BUILD/test-chan-hostile" ]; then
	echo "# --- a hostile peer scribbles over the region while traffic flows"
	run_tap test-chan-hostile timeout 120 "$BUILD/test-chan-hostile" "$BUILD/ivshmem-server"
fi

echo "# --- examples/chan-pipe: a file through a channel between two host peers"
pipe_check() {
	local sock=/tmp/ivs-chanpipe-$$.sock shm=ivs-chanpipe-$$ spid i
	"$BUILD/ivshmem-server" -F -S "$sock" -M "$shm" -l 4M -n 1 2>/dev/null &
	spid=$!
	for i in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
	head -c 5000000 /dev/urandom >"$BUILD/pipe.in"
	timeout 60 "$BUILD/chan-pipe" -S "$sock" send <"$BUILD/pipe.in" 2>"$BUILD/pipe-send.err" &
	timeout 60 "$BUILD/chan-pipe" -S "$sock" recv >"$BUILD/pipe.out" 2>"$BUILD/pipe-recv.err"
	wait $!
	if cmp -s "$BUILD/pipe.in" "$BUILD/pipe.out" && [ ! -s "$BUILD/pipe-send.err" ] &&
	   [ ! -s "$BUILD/pipe-recv.err" ]; then
		say_ok "chan-pipe: 5 MB from one host peer to another arrive identical"
	else
		say_not_ok "chan-pipe: 5 MB from one host peer to another arrive identical"
		cat "$BUILD/pipe-send.err" "$BUILD/pipe-recv.err" | comment
	fi
	kill $spid 2>/dev/null
	wait $spid 2>/dev/null
	rm -f "$sock" "$BUILD/pipe.in" "$BUILD/pipe.out"
}
pipe_check

echo "1..$n"
echo "# $failed of $n failed, $(( $(date +%s) - start )) s"
[ $failed -eq 0 ]
