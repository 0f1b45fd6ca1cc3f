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

# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
tap_init host-fuzz "${1:-}"
SECONDS_EACH=${2:-20}
SEED=${3:-$(( (RANDOM << 30) ^ (RANDOM << 15) ^ RANDOM ))}
# shellcheck disable=SC2034 # read by tap.sh's run_tap
RUN_TAP_NOTE="seed $SEED"

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

tap_end "seed $SEED"
