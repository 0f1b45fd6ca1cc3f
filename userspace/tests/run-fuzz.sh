#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Randomized host-side fuzzing of ivshmem-server and the host peer library.
#
# Usage: userspace/tests/run-fuzz.sh [BUILD_DIR] [SECONDS] [SEED]
#
# Builds the server, fuzz-server and fuzz-peer with
# -fsanitize=address,undefined into BUILD_DIR (default:
# <repo>/build/host-fuzz), then runs each fuzzer for SECONDS (default 20)
# from SEED (default: random, printed; both fuzzers take it). Prints TAP;
# exits 0 when everything passed. A failure names the seed to replay:
#   fuzz-server SERVER -s SEED        fuzz-peer -s SEED [-c CASE]
# (userspace/tests/run-server-tests.sh has the deterministic cases.)

set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
ROOT=$(cd "$SRC/.." && pwd)
BUILD=${1:-$ROOT/build/host-fuzz}
SECONDS_EACH=${2:-20}
SEED=${3:-$(( (RANDOM << 30) ^ (RANDOM << 15) ^ RANDOM ))}
CC=${CC:-gcc}
mkdir -p "$BUILD" || exit 1
BUILD=$(cd "$BUILD" && pwd)

n=0
failed=0
start=$(date +%s)
say_ok() { n=$((n + 1)); echo "ok $n - $*"; }
say_not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }

# run a fuzzer; number its "ok - " / "not ok - " lines; a crash or a
# non-zero exit without a failed line is a failure of its own
run_tap() {
	local name=$1 line status="" seen_fail=0
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
		say_not_ok "$name exited with status ${status:-?} (seed $SEED)"
	fi
}

build() {
	local what=$1 out
	shift
	if out=$("$CC" "$@" 2>&1) && [ -z "$out" ]; then
		say_ok "build: $what"
	else
		say_not_ok "build: $what"
		printf '%s\n' "$out" | sed 's/^/# /'
		return 1
	fi
}

echo "# build directory: $BUILD, $SECONDS_EACH s per fuzzer, seed $SEED"
SAN=(-std=gnu11 -Wall -Wextra -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
     -fno-sanitize-recover=undefined)
build "ivshmem-server with -fsanitize=address,undefined" \
	"${SAN[@]}" -o "$BUILD/ivshmem-server-san" "$SRC/server/ivshmem-server.c" || exit 1
build "fuzz-server" "${SAN[@]}" -I"$SRC/lib" -o "$BUILD/fuzz-server" "$HERE/fuzz-server.c" ||
	exit 1
build "fuzz-peer (library with sanitizers)" "${SAN[@]}" -I"$SRC/lib" \
	-o "$BUILD/fuzz-peer" "$HERE/fuzz-peer.c" "$SRC/lib/peer.c" || exit 1

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

echo "# --- a fuzzing client against the server (built with sanitizers)"
run_tap fuzz-server "$BUILD/fuzz-server" "$BUILD/ivshmem-server-san" -s "$SEED" \
	-t "$SECONDS_EACH" -n 5000
echo "# --- a fuzzing fake server against the host peer library"
run_tap fuzz-peer "$BUILD/fuzz-peer" -s "$SEED" -t "$SECONDS_EACH" -n 300

echo "1..$n"
echo "# $failed of $n failed, $(( $(date +%s) - start )) s, seed $SEED"
[ $failed -eq 0 ]
