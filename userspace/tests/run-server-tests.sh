#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Host-only tests of ivshmem-server and the host peer library.
#
# Usage: userspace/tests/run-server-tests.sh [BUILD_DIR]
#
# Builds everything with plain gcc into BUILD_DIR (default:
# <repo>/build/host-tests), runs the test programs and prints TAP.
# Sockets go to /tmp (short paths), shm objects get names with the pid.
# Set CC to use another compiler, IVSHMEM_SKIP_QEMU=1 to skip the QEMU check.
# Every wait is for an event (the server's ready line, a line of a peer's
# output), bounded by IVS_WAIT_TIMEOUT (120) seconds.

set -u

# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
tap_init host-tests "$@"

# start_server LOG ARGS...: ivshmem-server -F ARGS in the background (pid in
# $spid); waits for its ready line (ivshmem-server(8))
start_server() {
	local log=$1
	shift
	"$BUILD/ivshmem-server" -F "$@" 2>"$log" &
	spid=$!
	wait_until "ivshmem-server's ready line in $log" eval \
		"grep -q '^ivshmem-server: ready: listening on ' '$log' || ! kill -0 $spid"
}

echo "# build directory: $BUILD"
STRICT=(-std=gnu11 -Wall -Wextra -O2 -D_FORTIFY_SOURCE=2)
SAN=(-std=gnu11 -Wall -Wextra -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
     -fno-sanitize-recover=undefined)
LIBINC=(-I"$SRC/lib")

build "ivshmem-server, -Wall -Wextra -O2 -D_FORTIFY_SOURCE=2, no warnings" \
	"${STRICT[@]}" -o "$BUILD/ivshmem-server" "$SRC/server/ivshmem-server.c" || exit 1
build "ivshmem-server with -fsanitize=address,undefined" \
	"${SAN[@]}" -o "$BUILD/ivshmem-server-san" "$SRC/server/ivshmem-server.c" || exit 1
build "peer library, -Wall -Wextra -O2 -D_FORTIFY_SOURCE=2, no warnings" \
	"${STRICT[@]}" -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-c -o "$BUILD/peer.o" "$SRC/lib/peer.c" || exit 1
build "test-server" "${STRICT[@]}" -o "$BUILD/test-server" "$HERE/test-server.c" || exit 1
build "test-peer (library with sanitizers)" "${SAN[@]}" "${LIBINC[@]}" \
	-o "$BUILD/test-peer" "$HERE/test-peer.c" "$SRC/lib/peer.c" || exit 1
build "test-peer-fake (library with sanitizers)" "${SAN[@]}" "${LIBINC[@]}" \
	-o "$BUILD/test-peer-fake" "$HERE/test-peer-fake.c" "$SRC/lib/peer.c" || exit 1
build "test-flood (library with sanitizers)" "${SAN[@]}" "${LIBINC[@]}" \
	-o "$BUILD/test-flood" "$HERE/test-flood.c" "$SRC/lib/peer.c" || exit 1
build "peer-watch" "${STRICT[@]}" "${LIBINC[@]}" \
	-o "$BUILD/peer-watch" "$HERE/peer-watch.c" "$SRC/lib/peer.c" || exit 1

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

echo "# --- server, raw protocol client"
run_tap test-server "$BUILD/test-server" "$BUILD/ivshmem-server" "$BUILD"
echo "# --- server built with sanitizers, raw protocol client"
run_tap "test-server (sanitizers)" "$BUILD/test-server" "$BUILD/ivshmem-server-san" "$BUILD"
echo "# --- library against the server"
run_tap test-peer "$BUILD/test-peer" "$BUILD/ivshmem-server"
echo "# --- library against a fake server"
run_tap test-peer-fake "$BUILD/test-peer-fake"
echo "# --- library against a server that never stops sending"
run_tap test-flood "$BUILD/test-flood"

# ---------------------------------------------------------------------
# QEMU: an unmodified ivshmem-doorbell device must accept the server.
qemu_check() {
	local qemu sock shm log w q1 q2 wpid spid q1pid rc1 rc2
	qemu=$(command -v qemu-system-x86_64)
	sock=/tmp/ivs-qemu-$$.sock
	shm=ivs-qemu-$$
	log=$BUILD/qemu-server.log
	w=$BUILD/qemu-watch.out
	q1=$BUILD/qemu-1.out
	q2=$BUILD/qemu-2.out
	local dev=(-accel tcg -machine pc -nodefaults -display none -S
		   -chardev "socket,path=$sock,id=c"
		   -device ivshmem-doorbell,chardev=c,vectors=2 -monitor stdio)

	start_server "$log" -v -n 2 -S "$sock" -M "$shm"

	# a host peer first (id 0); it rings every vector of each peer that joins
	"$BUILD/peer-watch" "$sock" $((3 * WAIT)) 2 >"$w" 2>&1 &
	wpid=$!
	wait_until "peer-watch to join" grep -q '^id ' "$w"

	# QEMU #1 (id 1) stays until QEMU #2 (id 2) joined, which so gets peers
	# 0 and 1 as existing peers; #2 quits once it joined and showed its PCI
	# device. (timeout: only against a QEMU that hangs)
	(wait_until "QEMU #2 to join" grep -qx 'joined 2' "$w" >&2; echo quit) |
		timeout $((3 * WAIT)) "$qemu" "${dev[@]}" >"$q1" 2>&1 &
	q1pid=$!
	wait_until "QEMU #1 to join" grep -qx 'joined 1' "$w"
	(wait_until "QEMU #2 to join" grep -qx 'joined 2' "$w" >&2; echo "info pci"; echo quit) |
		timeout $((3 * WAIT)) "$qemu" "${dev[@]}" >"$q2" 2>&1
	rc2=$?
	wait $q1pid
	rc1=$?
	wait $wpid
	kill "$spid" 2>/dev/null
	wait "$spid"

	if [ $rc1 -eq 0 ] && [ $rc2 -eq 0 ] && grep -q 'joined 1' "$w" && grep -q 'joined 2' "$w"; then
		say_ok "QEMU ivshmem-doorbell (vectors=2) accepts the handshake, as first and as later peer"
	else
		say_not_ok "QEMU ivshmem-doorbell (vectors=2) accepts the handshake (rc $rc1, $rc2)"
		cat "$q1" "$q2" "$log" | tr -d '\r' | grep -v '\[K' | comment
	fi
	if tr -d '\r' <"$q2" | grep -q 'RAM controller: PCI device 1af4:1110' &&
	   tr -d '\r' <"$q2" | grep -q 'BAR2: 64 bit prefetchable memory.*\[0x003ffffe\]'; then
		say_ok "QEMU shows the ivshmem device with a 4 MiB 64-bit prefetchable BAR2"
	else
		say_not_ok "QEMU shows the ivshmem device with a 4 MiB BAR2"
		tr -d '\r' <"$q2" | grep -v '\[K' | comment
	fi
	if grep -q '^id 0 vectors 2' "$w" && grep -q 'left 2' "$w" && grep -q 'left 1' "$w" &&
	   ! grep -q '^ring' "$w"; then
		say_ok "a library peer sees both QEMUs join (ringing their vectors) and leave"
	else
		say_not_ok "a library peer sees both QEMUs join and leave"
		comment <"$w"
	fi
	rm -f "$sock" "/dev/shm/$shm"
}

# QEMU (7.2) aborts when a peer id it saw leave joins and leaves again: the
# server must not hand a departed peer's id out again soon.
qemu_churn_check() {
	local qemu sock shm log q rc i spid
	qemu=$(command -v qemu-system-x86_64)
	sock=/tmp/ivs-qchurn-$$.sock
	shm=ivs-qchurn-$$
	log=$BUILD/qemu-churn-server.log
	q=$BUILD/qemu-churn.out
	start_server "$log" -v -n 1 -S "$sock" -M "$shm"
	# QEMU (peer 0) quits once it was told of all six departures (and then
	# answered a monitor command, so it has read them)
	lefts() { [ "$(grep -c 'peer [0-9]* left' "$log")" -ge "$1" ]; }
	(wait_until "six host peers to leave" lefts 6 >&2; echo "info pci"; echo quit) |
		timeout $((3 * WAIT)) "$qemu" -accel tcg -machine pc -nodefaults \
		-display none -S -chardev "socket,path=$sock,id=c" \
		-device ivshmem-doorbell,chardev=c,vectors=1 -monitor stdio >"$q" 2>&1 &
	local qpid=$!
	wait_until "QEMU to join" grep -q 'peer 0 joined' "$log"
	# one after another: each has been announced (it read its handshake;
	# issue 13: one that leaves before that never is) and has left (the
	# server says so) before the next
	joins() { [ "$(grep -c 'peer [0-9]* joined' "$log")" -ge "$1" ]; }
	for i in 1 2 3 4 5 6; do
		"$BUILD/peer-watch" "$sock" "$WAIT" >/dev/null 2>&1 &
		local hp=$!
		wait_until "host peer $i to be announced" joins $((i + 1))
		kill "$hp"
		wait "$hp"
		wait_until "host peer $i to leave" lefts "$i"
	done
	wait $qpid
	rc=$?
	kill "$spid" 2>/dev/null
	wait "$spid"
	if [ $rc -eq 0 ]; then
		say_ok "QEMU survives six host peers joining and leaving one after another"
	else
		say_not_ok "QEMU survives six host peers joining and leaving (QEMU exit $rc)"
		tr -d '\r' <"$q" | grep -v '\[K' | comment
	fi
	rm -f "$sock" "/dev/shm/$shm"
}

if [ -n "${IVSHMEM_SKIP_QEMU:-}" ]; then
	say_skip "QEMU handshake" "IVSHMEM_SKIP_QEMU is set"
elif ! command -v qemu-system-x86_64 >/dev/null; then
	say_skip "QEMU handshake" "qemu-system-x86_64 is not installed"
else
	echo "# --- QEMU"
	qemu_check
	qemu_churn_check
fi

tap_end
