#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# systemd-test.sh BUILD_DIR: ivshmem-server under systemd's protocols, on the
# host, without systemd as PID 1 (the tools of the "systemd" package work
# without it):
#  - systemd-analyze verify on ivshmem-server@.service and .socket;
#  - the server started by systemd-socket-activate (LISTEN_FDS: the
#    inherited listening socket), configured by a file (-C), with a library
#    peer and a QEMU ivshmem-doorbell connecting through the inherited socket;
#  - Type=notify readiness: READY=1 and STOPPING=1 on a NOTIFY_SOCKET the
#    test owns (socat receiving datagrams).
# Prints TAP; every wait is for an event, bounded by IVS_WAIT_TIMEOUT (120) s.

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
mkdir -p "$1" || exit 1
BUILD=$(cd "$1" && pwd)
T=$BUILD/systemd-test
rm -rf "$T"; mkdir -p "$T/units"
SERVER=$SRC/server/ivshmem-server
SOCK=/tmp/ivs-sdtest-$$.sock
NS=/tmp/ivs-sdtest-$$.notify
SHM=ivs-sdtest-$$
WAIT=${IVS_WAIT_TIMEOUT:-120}
n=0 failed=0 pids=()
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
show() { sed 's/^/#   /' "$@"; echo; }	# datagrams may end without a newline
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -f "$SOCK" "$NS" "/dev/shm/$SHM"
}
trap cleanup EXIT
wait_until() {
	local what=$1 end=$((SECONDS + WAIT))
	shift
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$end" ]; then echo "# timed out after $WAIT s waiting for $what"; return 1; fi
		sleep 0.05
	done
}

if make -s -C "$SRC/server" >"$T/build.log" 2>&1 &&
   make -s -C "$SRC" O="$BUILD" WITH_SERVER=0 lib tools >>"$T/build.log" 2>&1 &&
   gcc -std=gnu11 -Wall -Wextra -O2 -I"$SRC/lib" -o "$T/peer-watch" "$HERE/peer-watch.c" \
	"$SRC/lib/peer.c" >>"$T/build.log" 2>&1; then
	ok "build: server, CLI, peer-watch"
else
	nok "build"; show "$T/build.log"; echo "1..$n"; exit 1
fi

# ------------------------------------------------------------ the units
sed -e "s|@SBINDIR@|$SRC/server|g" "$SRC/server/systemd/ivshmem-server@.service" \
	>"$T/units/ivshmem-server@test.service"
cp "$SRC/server/systemd/ivshmem-server@.socket" "$T/units/ivshmem-server@test.socket"
if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze verify" "systemd-analyze is not installed (package systemd)"
else
	systemd-analyze verify --man=no "$T/units/ivshmem-server@test.socket" \
		"$T/units/ivshmem-server@test.service" >"$T/verify.log" 2>&1
	rc=$?
	check "systemd-analyze verify: the socket and the service (rc $rc, no message)" \
		eval '[ $rc = 0 ] && [ ! -s "$T/verify.log" ]'
	[ -s "$T/verify.log" ] && show "$T/verify.log"
	if systemd-analyze security --offline=yes "$T/units/ivshmem-server@test.service" \
		>"$T/security.log" 2>&1; then
		score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$T/security.log")
		check "systemd-analyze security: exposure $score (at most 2.0, \"OK\")" \
			awk -v s="${score:-99}" 'BEGIN { exit !(s <= 2.0) }'
		grep -E '^✗' "$T/security.log" | head -20 | show
	else
		skip "systemd-analyze security" "--offline not supported here"
	fi
fi
# the hardening allows what the server needs: its memory in /dev/shm or hugetlbfs
check "the service may write /dev/shm and /dev/hugepages (ReadWritePaths)" \
	grep -qx 'ReadWritePaths=/dev/shm -/dev/hugepages' "$T/units/ivshmem-server@test.service"
check "... and AF_UNIX is the address family it keeps" \
	grep -qx 'RestrictAddressFamilies=AF_UNIX' "$T/units/ivshmem-server@test.service"

# ------------------------------------------------------------ the config file
cat >"$T/test.conf" <<CONF
# a test instance
size = 2M
vectors = 2
peers = 4
shm = $SHM
verbose = yes
CONF
printf 'size = 1M\nbogus = 1\n' >"$T/bad.conf"
"$SERVER" -F -C "$T/bad.conf" -S "$SOCK" 2>"$T/bad.err"
rc=$?
check "a configuration file with an unknown key: exit 2 (rc $rc)" [ "$rc" = 2 ]
check "... naming file and line" grep -q "bad.conf:2: unknown key 'bogus'" "$T/bad.err"

# ------------------------------------------------------------ socket activation
if ! command -v systemd-socket-activate >/dev/null || ! command -v socat >/dev/null; then
	skip "socket activation" "systemd-socket-activate or socat is missing"
	echo "1..$n"; exit $((failed > 0))
fi
rm -f "$NS"
socat -u UNIX-RECV:"$NS" - >"$T/notify.out" 2>"$T/socat.err" &
pids+=($!)
wait_until "the notify socket" test -S "$NS"
# the instance's ExecStart, under systemd-socket-activate; it starts the
# server at the first connection, with LISTEN_FDS=1 and the socket as fd 3
systemd-socket-activate -l "$SOCK" -E NOTIFY_SOCKET="$NS" \
	"$SERVER" -F -C "$T/test.conf" 2>"$T/server.log" &
act=$!
pids+=("$act")
wait_until "systemd-socket-activate to listen" test -S "$SOCK"
timeout "$WAIT" "$T/peer-watch" "$SOCK" "$WAIT" 1 >"$T/watch.out" 2>&1 &
wpid=$!
pids+=("$wpid")
wait_until "the peer to join" grep -q '^id ' "$T/watch.out"
check "a library peer joins through the inherited socket: id 0, 2 vectors" \
	grep -q '^id 0 vectors 2' "$T/watch.out"
wait_until "READY=1" grep -q 'READY=1' "$T/notify.out"
check "Type=notify: READY=1 on NOTIFY_SOCKET" grep -q 'READY=1' "$T/notify.out"
check "... with MAINPID, the server's pid (that of the activator, which execs it)" \
	grep -q "MAINPID=$act" "$T/notify.out"
check "the server says it took the socket: ready: listening on $SOCK" \
	grep -q "ready: listening on $SOCK" "$T/server.log"
check "... and serves the configuration file's 2 MiB, 2 vectors, 4 peers" \
	grep -q 'serving 2097152 bytes .*2 vectors, at most 4 peers' "$T/server.log"

# QEMU's ivshmem-doorbell, through the same inherited socket
if [ -n "${IVSHMEM_SKIP_QEMU:-}" ] || ! command -v qemu-system-x86_64 >/dev/null; then
	skip "QEMU through the inherited socket" "no QEMU, or IVSHMEM_SKIP_QEMU"
else
	(wait_until "QEMU to join" grep -q '^joined 1' "$T/watch.out" >&2; echo "info pci"; echo quit) |
		timeout "$WAIT" qemu-system-x86_64 -accel tcg -machine pc -nodefaults -display none -S \
		-chardev "socket,path=$SOCK,id=c" -device ivshmem-doorbell,chardev=c,vectors=2 \
		-monitor stdio >"$T/qemu.out" 2>&1
	rc=$?
	check "QEMU ivshmem-doorbell joins through the inherited socket (rc $rc)" \
		eval '[ $rc = 0 ] && grep -q "^joined 1" "$T/watch.out"'
	check "... with the 2 MiB BAR2 of the configuration" \
		eval "tr -d '\r' <'$T/qemu.out' | grep -q 'BAR2: 64 bit prefetchable memory.*\[0x001ffffe\]'"
	wait_until "the peer to see QEMU leave" grep -q '^left 1' "$T/watch.out"
fi

kill -TERM "$act"
wait "$act"
rc=$?
check "SIGTERM: the server exits 0 (rc $rc)" [ "$rc" = 0 ]
wait_until "STOPPING=1" grep -q 'STOPPING=1' "$T/notify.out"
check "... saying STOPPING=1 first" grep -q 'STOPPING=1' "$T/notify.out"
check "... and leaves the socket, which is systemd's, in place" test -S "$SOCK"
check "... and removes its shm object" test ! -e "/dev/shm/$SHM"

# a wrong inheritance is refused
timeout -s KILL "$WAIT" bash -c 'export LISTEN_PID=$$ LISTEN_FDS=2; exec "$0" -F -S "$1" -M "$2" 3</dev/null 4</dev/null' \
	"$SERVER" "$SOCK.x" "$SHM" 2>"$T/two.err"
rc=$?
check "LISTEN_FDS=2 is refused (rc $rc)" eval '[ $rc = 1 ] && grep -q "exactly one socket" "$T/two.err"'
echo "# notify datagrams:"; show "$T/notify.out"
echo "1..$n"
echo "# $failed of $n failed"
[ "$failed" -eq 0 ]
