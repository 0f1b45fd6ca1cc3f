#!/bin/bash
# SPDX-License-Identifier: MIT
#
# cli-peer-test.sh BUILD_DIR: `ivshmem peer`, the host side of the CLI,
# against a real ivshmem-server, on the host (no guest, no root).
#
# Builds the CLI with its library into BUILD_DIR (make -C userspace
# O=BUILD_DIR) and the server (make -C userspace/server), starts
#   ivshmem-server -F -S /tmp/ivs-clitest-PID.sock -M ivs-clitest-PID -l 1M -n 2
# and checks the output and exit status of every peer command, with a
# `peer watch` in the background that sees the other CLI peers come, ring
# it and go. Prints TAP (plan last) and exits non-zero if a check failed;
# takes a few seconds. Every wait is for an event (a line of output, the
# server's ready line) with a bound of IVS_WAIT_TIMEOUT (120) seconds; a
# watchdog ends the whole test after 600 s. Removes its socket, memory and
# processes on every exit.

set -u

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
mkdir -p "$1" || exit 1
BUILD=$(cd "$1" && pwd)

SOCK=/tmp/ivs-clitest-$$.sock
SHM=ivs-clitest-$$
T=$BUILD/cli-peer-test
IV=$BUILD/tools/ivshmem
SERVER=$SRC/server/ivshmem-server
export LD_LIBRARY_PATH=$BUILD/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
pids=()
n=0
failed=0
start=$(date +%s)

cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -f "$SOCK" "/dev/shm/$SHM"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
WAIT=${IVS_WAIT_TIMEOUT:-120}
# a watchdog, in case something waits for ever: the test takes seconds
(
	trap 'kill "$s" 2>/dev/null; exit 0' TERM
	sleep 600 &
	s=$!
	wait "$s" && echo "# cli-peer-test: out of time" >&2 && kill -TERM $$
) 2>/dev/null &
pids+=($!)

ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
# run WANT_RC COMMAND...: stdout in $T/out, stderr in $T/err
run() {
	local want=$1 got
	shift
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	[ "$got" = "$want" ] && return 0
	echo "# $*: exit $got, want $want; stderr:"
	sed 's/^/#   /' "$T/err"
	return 1
}
has() { # PATTERN [FILE]: grep -E, showing the file when it fails
	grep -qE -- "$1" "${2:-$T/out}" && return 0
	echo "# no /$1/ in ${2:-$T/out}:"
	sed 's/^/#   /' "${2:-$T/out}"
	return 1
}
errhas() { has "$1" "$T/err"; }
# wait_until WHAT COMMAND...: poll COMMAND (quietly) until it succeeds;
# after $WAIT seconds, one comment naming WHAT, and fail
wait_until() {
	local what=$1 end=$((SECONDS + WAIT))
	shift
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$end" ]; then
			echo "# timed out after $WAIT s waiting for $what"
			return 1
		fi
		sleep 0.05
	done
}
# until FILE PATTERN: wait for a line matching PATTERN in FILE
until_line() {
	wait_until "/$2/ in $1" grep -qE -- "$2" "$1" && return 0
	sed 's/^/#   /' "$1"
	return 1
}
# in_order FILE LINE...: the exact LINEs occur in FILE in this order
in_order() {
	local f=$1 last=0 l at
	shift
	for l in "$@"; do
		at=$(grep -nxF -- "$l" "$f" | awk -F: -v a="$last" '$1 > a {print $1; exit}')
		if [ -z "$at" ]; then
			echo "# no '$l' after line $last of $f:"
			sed 's/^/#   /' "$f"
			return 1
		fi
		last=$at
	done
}
ms() { date +%s%3N; }
joins() { grep -c '^peer [0-9]* joined$' "$T/watch"; }
balanced() { [ "$(joins)" = "$(grep -c '^peer [0-9]* left$' "$T/watch")" ]; }

mkdir -p "$T"
rm -f "$T"/*
echo "# build directory: $BUILD"
if make -C "$SRC" -s O="$BUILD" WITH_SERVER=0 lib tools >"$T/build.log" 2>&1 &&
   make -C "$SRC/server" -s >>"$T/build.log" 2>&1 && [ -x "$IV" ] && [ -x "$SERVER" ]; then
	ok "build: the CLI (O=$BUILD) and the server"
else
	nok "build: the CLI and the server"
	sed 's/^/# /' "$T/build.log"
	echo "1..$n"
	exit 1
fi

"$SERVER" -F -S "$SOCK" -M "$SHM" -l 1M -n 2 2>"$T/server.log" &
server=$!
pids+=("$server")
# ready once it says so (ivshmem-server(8)), or never if it died
server_up_or_gone() { grep -q '^ivshmem-server: ready: listening on ' "$T/server.log" || ! kill -0 "$server"; }
wait_until "the server's ready line" server_up_or_gone
check "ivshmem-server says it is ready: listening on $SOCK" \
	grep -qx "ivshmem-server: ready: listening on $SOCK" "$T/server.log"

# ------------------------------------------------------------ help, usage
check "peer --help exits 0" run 0 "$IV" peer --help
check "... and names every command" \
	sh -c "for c in info list ring wait watch dump read write; do grep -q \"^  \$c\" '$T/out' || exit 1; done"
check "peer ring --help shows its usage" run 0 "$IV" peer ring --help
check "... usage: ivshmem peer ring PEER [VECTOR]" has '^usage: ivshmem peer ring PEER \[VECTOR\]$'
check "help peer watch works too" run 0 "$IV" help peer watch
check "the global --help lists the peer commands" run 0 "$IV" --help
check "... e.g. peer watch" has '^  peer watch'
check "usage: peer without a command: exit 2" run 2 "$IV" peer -S "$SOCK"
check "usage: an unknown peer command: exit 2" run 2 "$IV" peer -S "$SOCK" frob
check "... names it" errhas "unknown command 'frob'"
check "usage: ring without PEER: exit 2" run 2 "$IV" peer -S "$SOCK" ring
check "... says what is missing" errhas 'peer ring: missing PEER'
check "usage: a peer id above 65535: exit 2" run 2 "$IV" peer -S "$SOCK" ring 65536
check "usage: a vector above 63: exit 2" run 2 "$IV" peer -S "$SOCK" wait 64
check "usage: read without LEN: exit 2" run 2 "$IV" peer -S "$SOCK" read 0
check "usage: a bad --timeout: exit 2" run 2 "$IV" peer -S "$SOCK" --timeout 1x wait
check "usage: an unknown option: exit 2" run 2 "$IV" peer -S "$SOCK" list --bogus

# ------------------------------------------------------------ alone
check "info alone: exit 0" run 0 "$IV" peer -S "$SOCK" info
check "info: peer id 0, 2 vectors, 1 MiB, no other peer" \
	sh -c "grep -qx 'peer id:       0' '$T/out' && grep -qx 'vectors:       2' '$T/out' &&
	       grep -qx 'size:          1048576 (1 MiB)' '$T/out' && grep -qx 'peers:         -' '$T/out'"
check "info --json: exit 0" run 0 "$IV" peer info --json -S "$SOCK"
info_json_ok() { # jq, quietly
	# shellcheck disable=SC2016 # $s is jq's
	jq -e --arg s "$SOCK" '.socket == $s and .peer_id == 1 and .vectors == 2 and
		.size == 1048576 and .peers == []' "$T/out" >/dev/null
}
if command -v jq >/dev/null; then
	check "info --json parses: peer_id 1 (ids go in turn), vectors 2, size, peers [] (jq)" info_json_ok
else
	check "info --json: peer_id 1, vectors 2, size, peers []" \
		has "^\{\"socket\": \"$SOCK\", \"peer_id\": 1, \"vectors\": 2, \"size\": 1048576, \"peers\": \[\]\}$"
fi
check "list alone: exit 0, prints nothing" run 0 "$IV" peer -S "$SOCK" list
check "... nothing" [ ! -s "$T/out" ]
check "default socket is /tmp/ivshmem_socket (named in the error)" \
	sh -c "[ -e /tmp/ivshmem_socket ] || { '$IV' peer list 2>'$T/err'; [ \$? = 1 ] && grep -q '^ivshmem: peer /tmp/ivshmem_socket: connect: ' '$T/err'; }"
check "no server: exit 1" run 1 "$IV" peer -S "$T/no-such.sock" list
check "... ivshmem: peer SOCKET: connect: No such file or directory" \
	errhas "^ivshmem: peer $T/no-such.sock: connect: No such file or directory"

# ------------------------------------------------------------ a watcher
# until the server goes (the end of the test); the timeout bounds a hang
"$IV" peer -S "$SOCK" --timeout 600000 watch >"$T/watch" 2>"$T/watch.err" &
watch=$!
pids+=("$watch")
check "watch: joins" until_line "$T/watch" '^joined as peer [0-9]* \(2 vectors, 1 MiB\)$'
W=$(sed -n 's/^joined as peer \([0-9]*\) .*/\1/p' "$T/watch" | head -n1)
# info, info --json and list came and went: ids go in turn, none is reused
check "... as peer 3, after three peers that left (got '$W')" [ "$W" = 3 ]
check "list shows the watcher: $W" run 0 "$IV" peer -S "$SOCK" list
check "... exactly '$W'" [ "$(cat "$T/out")" = "$W" ]
check "info --json lists it in peers" run 0 "$IV" peer -S "$SOCK" info --json
check "... peers [$W]" has "\"peers\": \[$W\]"

check "ring $W 1 (the watcher, vector 1): exit 0" run 0 "$IV" peer -S "$SOCK" ring "$W" 1
check "... prints nothing" sh -c "[ ! -s '$T/out' ] && [ ! -s '$T/err' ]"
saw_ring() {
	local r
	until_line "$T/watch" '^vector 1 fired$' >/dev/null || return 1
	# the ringer is the newest peer; once every transient peer has left,
	# its join and departure are both there. The ring and the join come by
	# different fds, so either can be printed first.
	# A ringer that leaves at once may go before the server announced it
	# (it announces a client once it has read its handshake, issue 13):
	# then the watch hears of neither its join nor its departure.
	wait_until "as many departures as joins in $T/watch" balanced
	r=$(sed -n 's/^peer \([0-9]*\) joined$/\1/p' "$T/watch" | sort -n | tail -n1)
	[ -z "$r" ] || in_order "$T/watch" "joined as peer $W (2 vectors, 1 MiB)" \
		"peer $r joined" "peer $r left"
}
check "watch saw it: vector 1 fired; the ringer joined then left, or was never announced" saw_ring
check "ring $W (vector 0 by default): exit 0" run 0 "$IV" peer -S "$SOCK" ring "$W"
check "watch: vector 0 fired" until_line "$T/watch" '^vector 0 fired$'
check "ring an absent peer: exit 1" run 1 "$IV" peer -S "$SOCK" ring 999
check "... ivshmem: peer SOCKET: ring: peer 999 is not present (present: $W)" \
	errhas "^ivshmem: peer $SOCK: ring: peer 999 is not present \(present: $W\)$"
check "ring vector 2 of 2: exit 1" run 1 "$IV" peer -S "$SOCK" ring "$W" 2
check "... out of range, the server gives 2" errhas "ring: vector 2 is out of range \(the server gives each peer 2 vectors\)$"

# ------------------------------------------------------------ wait
t0=$(ms)
check "wait --timeout 300 with nobody ringing: exit 3" run 3 "$IV" peer -S "$SOCK" wait --timeout 300
t1=$(ms)
check "... after at least 300 ms ($((t1 - t0)) ms)" [ $((t1 - t0)) -ge 300 ]
check "... ivshmem: peer SOCKET: wait: timed out after 300 ms" \
	errhas "^ivshmem: peer $SOCK: wait: timed out after 300 ms$"
check "wait on vector 2 of 2: exit 1" run 1 "$IV" peer -S "$SOCK" wait 2 --timeout 100
check "... out of range" errhas 'wait: vector 2 is out of range'

nj=$(grep -c '^peer [0-9]* joined$' "$T/watch")
"$IV" peer -S "$SOCK" wait 1 --timeout $((WAIT * 1000)) >"$T/wait.out" 2>"$T/wait.err" &
waiter=$!
pids+=("$waiter")
joins_above() { [ "$(joins)" -gt "$1" ]; }
more_joins() { # N: wait for more than N joins in the watch
	wait_until "more than $1 joins in $T/watch" joins_above "$1"
}
check "watch sees the waiter join" more_joins "$nj"
wid=$(grep '^peer [0-9]* joined$' "$T/watch" | tail -n1 | awk '{print $2}')
echo "# the waiter is peer $wid"
check "ring the waiter on vector 0, which it does not wait for" run 0 "$IV" peer -S "$SOCK" ring "$wid" 0
# (had it woken, it would print 'vector 0' and be gone for the next ring)
check "... it keeps waiting" kill -0 "$waiter"
check "ring it on vector 1" run 0 "$IV" peer -S "$SOCK" ring "$wid" 1
wait "$waiter"
rc=$?
check "wait 1 returns 0 when vector 1 is rung (rc $rc)" [ "$rc" = 0 ]
check "... and prints exactly 'vector 1'" [ "$(cat "$T/wait.out")" = "vector 1" ]
check "watch saw the waiter leave" until_line "$T/watch" "^peer $wid left$"

# ------------------------------------------------------------ memory
printf 'hello from the host peer' >"$T/msg"
check "write 0x1000 < message: exit 0" run 0 sh -c "'$IV' peer -S '$SOCK' write 0x1000 <'$T/msg'"
check "read 4K 24 gives it back" sh -c "'$IV' peer -S '$SOCK' read 4K 24 | cmp -s - '$T/msg'"
check "... and it is in the server's memory, /dev/shm/$SHM" \
	sh -c "dd if=/dev/shm/$SHM bs=4096 skip=1 count=1 status=none | head -c 24 | cmp -s - '$T/msg'"
printf 'written behind its back' | dd of="/dev/shm/$SHM" bs=1 seek=$((0x3000)) conv=notrunc status=none
check "read sees what another process wrote to the server's memory" \
	sh -c "[ \"\$('$IV' peer -S '$SOCK' read 0x3000 23)\" = 'written behind its back' ]"
check "dump 0x1000 32: exit 0" run 0 "$IV" peer -S "$SOCK" dump 0x1000 32
check "... hexdump -C lines with offsets" \
	has '^00001000  68 65 6c 6c 6f 20 66 72  6f 6d 20 74 68 65 20 68  \|hello from the h\|$'
check "... ends with the end offset" has '^00001020$'
check "dump is what hexdump -C prints of the memory" \
	sh -c "'$IV' peer -S '$SOCK' dump 0 0x4100 >'$T/d1' &&
	       head -c \$((0x4100)) /dev/shm/$SHM | hexdump -C >'$T/d2' && cmp -s '$T/d1' '$T/d2'"
check "dump -v prints every line" sh -c "[ \$('$IV' peer -S '$SOCK' dump -v 0 4K | wc -l) = 257 ]"
check "read beyond the end: exit 1" run 1 "$IV" peer -S "$SOCK" read 1M 1
check "... ivshmem: peer SOCKET: read: range ... is beyond the memory" \
	errhas "^ivshmem: peer $SOCK: read: range 0x100000\+0x1 is beyond the memory"
check "write past the end: exit 1" \
	sh -c "head -c 16 /dev/zero | '$IV' peer -S '$SOCK' write 0xffff8 2>'$T/err'; [ \$? = 1 ]"
check "... No space left on device" errhas "^ivshmem: peer $SOCK: write: No space left on device"

# ------------------------------------------------------------ the end of a watch
t0=$(ms)
check "watch --timeout 400: exit 0" run 0 "$IV" peer -S "$SOCK" --timeout 400 watch
t1=$(ms)
check "... after at least 400 ms ($((t1 - t0)) ms)" [ $((t1 - t0)) -ge 400 ]
check "... listed the peer present: peer $W present" has "^peer $W present$"
for sig in INT TERM; do
	"$IV" peer -S "$SOCK" watch >"$T/w-$sig" 2>&1 &
	w=$!
	pids+=("$w")
	until_line "$T/w-$sig" '^joined as peer' >/dev/null
	kill -"$sig" "$w"
	wait "$w"
	rc=$?
	check "watch ends with exit 0 on SIG$sig (rc $rc)" [ "$rc" = 0 ]
done
check "the first watch saw every peer that came go again" \
	wait_until "as many departures as joins in $T/watch" balanced

# ------------------------------------------------------------ a server that floods
# tests/test-flood.c serve SOCK MODE: a server that sends "peer 9 left" for
# ever, in the handshake (MODE handshake) or after it (MODE after). Every
# command must end within its stated time anyway; the bounds allow for a
# loaded machine (SLACK ms), a hang runs into $WAIT s and fails.
SLACK=4000
FLOOD=$T/test-flood
FSOCK=/tmp/ivs-clitest-$$-flood.sock
if "${CC:-gcc}" -std=gnu11 -Wall -Wextra -O2 -I"$SRC/lib" -o "$FLOOD" "$HERE/test-flood.c" \
	"$SRC/lib/peer.c" 2>"$T/flood-build.log" && [ ! -s "$T/flood-build.log" ]; then
	ok "build: the flooding server (tests/test-flood.c)"
else
	nok "build: the flooding server (tests/test-flood.c)"
	sed 's/^/# /' "$T/flood-build.log"
fi
# flood_start MODE: the flooding server on $FSOCK, pid in $fpid
flood_start() {
	rm -f "$FSOCK"
	"$FLOOD" serve "$FSOCK" "$1" >"$T/flood.out" 2>&1 &
	fpid=$!
	pids+=("$fpid")
	until_line "$T/flood.out" '^listening$' >/dev/null
}
# (the server is a process group of its own: its children go with it)
flood_stop() { kill -KILL -- -"$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null; rm -f "$FSOCK"; }
# within RC WANT_RC MS MAX_MS [MIN_MS]: the exit status and the time taken
within() { [ "$1" = "$2" ] && [ "$3" -lt "$4" ] && [ "$3" -ge "${5:-0}" ]; }
# bounded CMD...: run CMD, killed after $WAIT s; exit status in $rc, time in $took (ms)
bounded() {
	local t0
	t0=$(ms)
	timeout -s KILL "$WAIT" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	took=$(($(ms) - t0))
}

flood_start handshake
bounded "$IV" peer -S "$FSOCK" info --timeout 1000
check "flood in the handshake: info --timeout 1000 gives up, exit 1 (rc $rc, $took ms)" \
	within "$rc" 1 "$took" $((1000 + SLACK))
check "... saying the handshake did not complete" errhas 'did not complete the handshake'
bounded "$IV" peer -S "$FSOCK" info
check "... info without --timeout gives up after its 10 s (rc $rc, $took ms)" \
	within "$rc" 1 "$took" $((10000 + SLACK)) 10000
bounded "$IV" peer -S "$FSOCK" watch --timeout 1000
check "... watch --timeout 1000 ends in time, exit 1 (rc $rc, $took ms)" \
	within "$rc" 1 "$took" $((1000 + SLACK))
for sig in INT TERM; do
	"$IV" peer -S "$FSOCK" watch >"$T/w-flood" 2>&1 &
	w=$!
	pids+=("$w")
	# the watch is in its handshake once the server serves it
	wait_until "the flooding server to serve the watch" pgrep -P "$fpid"
	kill -"$sig" "$w" 2>/dev/null
	t1=$(ms)
	wait "$w"
	rc=$?
	took=$(($(ms) - t1))
	check "... SIG$sig ends a watch still in the handshake (rc $rc, $took ms)" \
		within "$rc" $((128 + $(kill -l "$sig"))) "$took" "$SLACK"
done
flood_stop

flood_start after
bounded "$IV" peer -S "$FSOCK" watch --timeout 1000
check "flood after the handshake: watch --timeout 1000 exits 0 in time (rc $rc, $took ms)" \
	within "$rc" 0 "$took" $((1000 + SLACK)) 1000
bounded "$IV" peer -S "$FSOCK" wait --timeout 500
check "... wait --timeout 500 exits 3 in time (rc $rc, $took ms)" \
	within "$rc" 3 "$took" $((500 + SLACK)) 500
for sig in INT TERM; do
	"$IV" peer -S "$FSOCK" watch >"$T/w-flood" 2>&1 &
	w=$!
	pids+=("$w")
	until_line "$T/w-flood" '^joined as peer' >/dev/null
	t1=$(ms)
	kill -"$sig" "$w"
	wait "$w"
	rc=$?
	took=$(($(ms) - t1))
	check "... SIG$sig ends the watch, exit 0 (rc $rc, $took ms)" \
		within "$rc" 0 "$took" "$SLACK"
done
flood_stop

kill "$server"
wait "$server"
wait "$watch"
rc=$?
check "watch exits 1 when the server goes away (rc $rc)" [ "$rc" = 1 ]
check "... saying so" has "^ivshmem: peer $SOCK: watch: .*the server went away" "$T/watch.err"
check "the server removed its socket" [ ! -e "$SOCK" ]

echo "1..$n"
echo "# $failed of $n failed, $(($(date +%s) - start)) s"
[ "$failed" -eq 0 ]
