#!/bin/bash
# lib.sh: helpers for host-side test scenarios; source it from a bash script
# that uses `set -euo pipefail`. It sets IVS_CI, IVS_REPO, IVS_BUILD
# (default <repo>/build, or $IVS_BUILD) and IVS_LOGDIR, and keeps its state in
# files (so counts made in subshells and background jobs are kept). At exit it
# removes the shm files it created and kills the processes given to ivs_kill_on_exit.
#
#   ivs_env                      source $IVS_BUILD/env.sh (KVER KDIR VMLINUZ ...)
#   ivs_shm_file NAME SIZE       create /dev/shm/ivs-test-$USER-$$-NAME (SIZE: 4M, 1G),
#                                removed at exit; prints its path (vmtest.sh shm:
#                                one line and non-zero if /dev/shm lacks the room)
#   ivs_plain_dev ID FILE        prints the QEMU args for a memory-backend-file
#                                "ID-mem" + ivshmem-plain "ID" on FILE
#   ivs_high_bars                prints QEMU args that push all 64-bit BARs above
#                                4 GiB on -machine pc (else SeaBIOS puts BAR2s up to
#                                ~1 GiB below 4 GiB, in the MTRR-uncachable hole)
#   ivs_kill_on_exit PID         kill PID and its descendants at exit
#   ivs_wait_for SECONDS WHAT COMMAND...
#                                run COMMAND (quietly) every 0.1 s until it
#                                succeeds; after SECONDS (0: $IVS_WAIT_TIMEOUT,
#                                default 120) print "timed out after N s waiting
#                                for WHAT" on stderr and fail
#   ivs_start_server SOCKET SHM_NAME VECTORS [SERVER OPTION...]
#                                an ivshmem-server (-l 4M unless an option says
#                                otherwise) in the background, killed at exit;
#                                waits for its ready line. Sets IVS_SERVER_PID and
#                                IVS_SERVER_LOG ($IVS_LOGDIR/server-NAME.log)
#   ivs_guest NAME INITRD SCRIPT [vmtest.sh boot options] [-- QEMU ARGS]
#                                boot a guest (log: $IVS_LOGDIR/NAME.log), then
#                                judge its log (IVS_PLANS=N: expected TAP plans);
#                                non-zero if the guest or its log check failed
#   host_ok/host_fail/host_skip DESCRIPTION    host-side TAP results
#   ivs_summary                  totals; last line "N passed, N failed[, N skipped]";
#                                non-zero if anything failed

IVS_CI=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
IVS_REPO=$(cd "$IVS_CI/.." && pwd)
IVS_BUILD=${IVS_BUILD:-$IVS_REPO/build}
IVS_LOGDIR=${IVS_LOGDIR:-$IVS_BUILD/logs}
IVS_USER=${USER:-$(id -un)}
IVS_STATE=$(mktemp -d "${TMPDIR:-/tmp}/ivs-state.XXXXXX")
mkdir -p "$IVS_LOGDIR"
touch "$IVS_STATE"/{cleanup,pids,host,guests}

ivs_cleanup() {
	local pid f
	while read -r pid; do ivs_kill_tree "$pid"; done <"$IVS_STATE/pids"
	while IFS= read -r f; do rm -f "$f"; done <"$IVS_STATE/cleanup"
	rm -rf "$IVS_STATE"
}
trap ivs_cleanup EXIT
trap 'exit 130' INT TERM

ivs_env() {
	[ -f "$IVS_BUILD/env.sh" ] ||
		{ echo "no $IVS_BUILD/env.sh: run ci/prepare.sh" >&2; return 1; }
	# shellcheck source=/dev/null
	. "$IVS_BUILD/env.sh"
}

# $$: runs side by side (several users of one machine, as root) must not
# remove and recreate each other's files
ivs_shm_path() { echo "/dev/shm/ivs-test-$IVS_USER-$$-$1"; }

ivs_shm_file() { # fails with one line when the filesystem lacks the room
	local f
	f=$(ivs_shm_path "$1")
	echo "$f" >>"$IVS_STATE/cleanup"
	"$IVS_REPO/selftests/ivshmem/vmtest.sh" shm "$f" "$2" && echo "$f"
}

ivs_plain_dev() {
	echo "-object memory-backend-file,id=$1-mem,size=$(stat -c %s "$2"),share=on,mem-path=$2" \
	     "-device ivshmem-plain,id=$1,memdev=$1-mem"
}

# a 4 GiB BAR cannot fit below 4 GiB, so SeaBIOS moves every 64-bit BAR up
ivs_high_bars() { echo "-device pci-testdev,membar=4G"; }

ivs_kill_on_exit() { echo "$1" >>"$IVS_STATE/pids"; }

ivs_kill_tree() { # TERM to PID and all its descendants, children first
	local c kids
	kids=$(cat /proc/"$1"/task/*/children 2>/dev/null || true)
	for c in $kids; do ivs_kill_tree "$c"; done
	kill "$1" 2>/dev/null || true
}

ivs_guest() {
	local name=$1 initrd=$2 script=$3 log=$IVS_LOGDIR/$1.log rc=0 bad=0
	shift 3
	ivs_env
	rm -f "$log.counts"
	"$IVS_REPO/selftests/ivshmem/vmtest.sh" boot --name "$name" --kernel "$VMLINUZ" \
		--initrd "$initrd" --script "$script" --log "$log" \
		--timeout "${IVS_TIMEOUT:-300}" "$@" || rc=$?
	"$IVS_REPO/selftests/ivshmem/vmtest.sh" judge "$log" ${IVS_PLANS:+"$IVS_PLANS"} || bad=1 rc=1
	echo "$name $log $bad" >>"$IVS_STATE/guests"
	return $rc
}

host_ok() { echo "ok - host: $*"; echo pass >>"$IVS_STATE/host"; }
host_fail() { echo "not ok - host: $*"; echo fail >>"$IVS_STATE/host"; }
host_skip() { echo "ok - host: $* # SKIP"; echo skip >>"$IVS_STATE/host"; }

ivs_summary() {
	local p f s name log bad gp gf gs
	p=$(grep -c '^pass$' "$IVS_STATE/host" || true)
	f=$(grep -c '^fail$' "$IVS_STATE/host" || true)
	s=$(grep -c '^skip$' "$IVS_STATE/host" || true)
	while read -r name log bad; do
		gp=0 gf=0 gs=0
		[ -f "$log.counts" ] && read -r gp gf gs <"$log.counts"
		echo -n "guest $name: $gp passed, $gf failed, $gs skipped"
		if [ "$bad" = 1 ]; then echo ", log check FAILED ($log)"; else echo; fi
		# a failed log check without a failed test counts as one failure
		if [ "$bad" = 1 ] && [ "$gf" -eq 0 ]; then gf=1; fi
		p=$((p + gp)) f=$((f + gf)) s=$((s + gs))
	done <"$IVS_STATE/guests"
	if [ "$s" -gt 0 ]; then
		echo "$p passed, $f failed, $s skipped"
	else
		echo "$p passed, $f failed"
	fi
	[ "$f" -eq 0 ]
}

# Every wait of the harness waits for an event with a generous bound: a
# loaded 2-core machine running several guests is slow, and a condition
# that holds ends the wait at once.
ivs_wait_for() {
	local secs=${1:-0} what=$2 end
	shift 2
	[ "$secs" -gt 0 ] 2>/dev/null || secs=${IVS_WAIT_TIMEOUT:-120}
	end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$end" ]; then
			echo "timed out after $secs s waiting for $what" >&2
			return 1
		fi
		sleep 0.1
	done
}

# the ready line ivshmem-server(8) logs once its socket accepts connections
IVS_SERVER_READY='^ivshmem-server: ready: listening on '

ivs_server_up_or_gone() { # LOG PID
	grep -q "$IVS_SERVER_READY" "$1" 2>/dev/null || ! kill -0 "$2" 2>/dev/null
}

ivs_start_server() {
	local sock=$1 shm=$2 vectors=$3
	shift 3
	IVS_SERVER_LOG=$IVS_LOGDIR/server-${shm##*-}.log
	"$IVS_REPO/userspace/server/ivshmem-server" -F -S "$sock" -M "$shm" -l 4M -n "$vectors" \
		"$@" >"$IVS_SERVER_LOG" 2>&1 &
	IVS_SERVER_PID=$!
	ivs_kill_on_exit "$IVS_SERVER_PID"
	ivs_wait_for 0 "ivshmem-server's ready line in $IVS_SERVER_LOG" \
		ivs_server_up_or_gone "$IVS_SERVER_LOG" "$IVS_SERVER_PID" || return 1
	grep -q "$IVS_SERVER_READY" "$IVS_SERVER_LOG" && return 0
	echo "ivshmem-server on $sock exited: $(tail -n 1 "$IVS_SERVER_LOG")" >&2
	return 1
}
