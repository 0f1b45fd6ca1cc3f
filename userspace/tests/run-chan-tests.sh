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

# shellcheck source=tap.sh
. "$(dirname "$0")/tap.sh"
tap_init chan-tests "$@"

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
build "ivshmem CLI (tools/ivshmem.c, library with sanitizers)" "${SAN[@]}" "${INC[@]}" \
	-o "$BUILD/ivshmem" "$SRC/tools/ivshmem.c" "${LIB[@]}" || exit 1
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

echo "# --- ivshmem chan: the CLI between two host peers"
# Every wait is for an event (the server's ready line, a --ready file, a
# line of output, a process's exit), polled, with a bound of $WAIT s.
CT=$BUILD/cli-chan
IV=$BUILD/ivshmem
gone() { ! kill -0 "$1" 2>/dev/null; }
has_line() { grep -qE -- "$2" "$1"; }
nonempty() { [ -s "$1" ]; }
# the exit status of background job PID, once it exited (bounded)
status_of() {
	wait_until "process $1 to exit" gone "$1" || { kill -KILL "$1" 2>/dev/null; }
	wait "$1"
}
# check DESCRIPTION COMMAND...: ok if COMMAND succeeds, else not ok and its files
check() {
	local d=$1
	shift
	if "$@"; then say_ok "$d"; else say_not_ok "$d"; fi
}
show() { local f; for f; do echo "# $f:"; sed 's/^/#   /' "$f"; done; }
one_line() { # FILE PATTERN: exactly one line, matching PATTERN
	[ "$(wc -l <"$1")" -eq 1 ] && grep -qE -- "$2" "$1" && return 0
	show "$1"
	return 1
}

usage_said() { # RC: exit status 2 and the pointer to --help on stderr
	[ "$1" = 2 ] && grep -qxF "Try 'ivshmem chan --help'." "$CT/err" && return 0
	show "$CT/err"
	return 1
}

stat_ok() { # RC: two active slots, the two rings between them
	[ "$1" = 0 ] && [ "$(grep -cE '^[0-9]+ +active ' "$CT/stat.out")" = 2 ] &&
		[ "$(grep -cE '^[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+$' "$CT/stat.out")" = 2 ] &&
		return 0
	show "$CT/stat.out" "$CT/stat.err"
	return 1
}
json_ok() {
	python3 -c 'import json, sys; assert len(json.load(open(sys.argv[1]))["slots"]) == 4' \
		"$CT/stat.json" && return 0
	show "$CT/stat.json" "$CT/stat.err"
	return 1
}
bench_ok() { # RC
	[ "$1" = 0 ] && grep -q '^throughput: 2000 messages' "$CT/bench.out" &&
		grep -q '^round trip: 2000 of 64 bytes: median' "$CT/bench.out" && return 0
	show "$CT/bench.out" "$CT/bench.err"
	return 1
}

chan_cli_check() {
	local sock=/tmp/ivs-chancli-$$.sock shm=ivs-chancli-$$ spid rpid lpid epid rc src dst t0 el
	rm -rf "$CT"
	mkdir -p "$CT"
	"$BUILD/ivshmem-server" -F -S "$sock" -M "$shm" -l 8M -n 1 >"$CT/server.log" 2>&1 &
	spid=$!
	if ! wait_until "the server's ready line" has_line "$CT/server.log" \
		"ivshmem-server: ready: listening on "; then
		say_not_ok "chan: ivshmem-server started"
		show "$CT/server.log"
		kill "$spid" 2>/dev/null
		return
	fi

	# 50 MB through a pipeline: recv first (it formats the region), then send
	(
		set -o pipefail
		"$IV" chan -S "$sock" recv --ready "$CT/recv.ready" 2>"$CT/recv.err" |
			sha256sum >"$CT/recv.sum"
		echo "${PIPESTATUS[0]}" >"$CT/recv.rc"
	) &
	rpid=$!
	if wait_until "recv's --ready file" test -e "$CT/recv.ready"; then
		head -c 50M /dev/urandom | tee >(sha256sum >"$CT/send.sum") |
			timeout "$WAIT" "$IV" chan -S "$sock" send --timeout 60000 2>"$CT/send.err"
		rc=${PIPESTATUS[2]}
	else
		rc=none
	fi
	status_of "$rpid" >/dev/null
	wait_until "the sender's checksum" nonempty "$CT/send.sum"
	src=$(cut -d' ' -f1 "$CT/send.sum" 2>/dev/null)
	dst=$(cut -d' ' -f1 "$CT/recv.sum" 2>/dev/null)
	if [ -n "$src" ] && [ "$src" = "$dst" ]; then
		say_ok "chan send | chan recv: 50 MB arrive with the same sha256"
	else
		say_not_ok "chan send | chan recv: 50 MB arrive with the same sha256 ($src, $dst)"
		show "$CT/send.err" "$CT/recv.err"
	fi
	check "chan send exits 0 once the receiver has everything (got $rc)" \
		test "$rc" = 0
	check "chan recv exits 0 at the end of the stream (got $(cat "$CT/recv.rc" 2>/dev/null))" \
		test "$(cat "$CT/recv.rc" 2>/dev/null)" = 0

	# nobody to send to: exit 3 and one line
	timeout "$WAIT" "$IV" chan -S "$sock" send --timeout 1000 </dev/null >"$CT/out" 2>"$CT/err"
	rc=$?
	check "chan send to nobody: exit 3 after --timeout (got $rc)" test "$rc" = 3
	check "chan send to nobody: one clear line" \
		one_line "$CT/err" "^ivshmem: peer $sock: chan send: no receiver came within 1000 ms$"
	timeout "$WAIT" "$IV" chan -S "$sock" recv --timeout 500 >"$CT/out" 2>"$CT/err"
	rc=$?
	check "chan recv from nobody: exit 3 after --timeout (got $rc)" test "$rc" = 3

	# listen sees a peer join and leave; stat shows the table
	"$IV" chan -S "$sock" listen >"$CT/listen.out" 2>"$CT/listen.err" &
	lpid=$!
	"$IV" chan -S "$sock" recv --ready "$CT/recv2.ready" >"$CT/recv2.out" 2>"$CT/recv2.err" &
	rpid=$!
	if wait_until "listen's first line" has_line "$CT/listen.out" '^joined as slot [0-9]+ ' &&
	   wait_until "recv's --ready file" test -e "$CT/recv2.ready" &&
	   wait_until "listen to see recv" has_line "$CT/listen.out" \
		'^slot [0-9]+ (joined \(peer [0-9]+, generation [0-9]+\)|present \(peer [0-9]+\))$'; then
		say_ok "chan listen: prints its slot, then the receiver present or joining"
	else
		say_not_ok "chan listen: prints its slot, then the receiver present or joining"
		show "$CT/listen.out" "$CT/listen.err"
	fi
	"$IV" chan -S "$sock" stat >"$CT/stat.out" 2>"$CT/stat.err"
	rc=$?
	check "chan stat: exit 0, two active slots and their rings" stat_ok "$rc"
	"$IV" chan -S "$sock" stat --json >"$CT/stat.json" 2>"$CT/stat.err"
	check "chan stat --json: valid JSON with 4 slots" json_ok

	# SIGTERM ends a waiting recv promptly: exit 1, one line
	t0=$(date +%s%3N)
	kill -TERM "$rpid"
	status_of "$rpid"
	rc=$?
	el=$(( $(date +%s%3N) - t0 ))
	check "chan recv waiting for a sender: SIGTERM ends it in ${el} ms, exit 1 (got $rc)" \
		test "$rc" = 1 -a "$el" -lt 5000
	check "chan recv after SIGTERM: one clear line" \
		one_line "$CT/recv2.err" "chan recv: waiting for a sender: interrupted by SIGTERM$"
	check "chan listen: the receiver's departure" \
		wait_until "listen to see recv leave" has_line "$CT/listen.out" '^slot [0-9]+ left$'
	kill -INT "$lpid"
	status_of "$lpid"
	rc=$?
	check "chan listen: SIGINT ends it, exit 0 (got $rc)" test "$rc" = 0

	# bench between two CLI processes
	"$IV" chan -S "$sock" bench --echo --timeout 60000 >"$CT/echo.out" 2>"$CT/echo.err" &
	epid=$!
	timeout "$WAIT" "$IV" chan -S "$sock" bench --count 2000 --rounds 2000 --timeout 60000 \
		>"$CT/bench.out" 2>"$CT/bench.err"
	rc=$?
	check "chan bench: exit 0, throughput and round trip printed (got $rc)" bench_ok "$rc"
	status_of "$epid"
	rc=$?
	check "chan bench --echo: exit 0 when bench is done (got $rc)" test "$rc" = 0

	# usage errors: exit 2 and the pointer to --help
	local args
	for args in "" "-S $sock" "-S $sock frob" "0 -S $sock send" "-S $sock send --ring-size 1000" \
		    "-S $sock send --bogus" "-S $sock send --offset 10" "-S $sock stat extra" \
		    "-S $sock recv --json" "-S $sock send --timeout x"; do
		# shellcheck disable=SC2086 # the words of $args are the arguments
		"$IV" chan $args >"$CT/out" 2>"$CT/err"
		rc=$?
		check "chan $args: usage error, exit 2 (got $rc)" usage_said "$rc"
	done

	kill "$spid" 2>/dev/null
	wait "$spid" 2>/dev/null
	rm -f "$sock" "/dev/shm/$shm"
}
chan_cli_check

tap_end
