#!/bin/bash
# check-loaded.sh: what `make check-loaded` runs. make check RUNS times in a
# row (default 3) while `stress-ng --cpu 2` keeps both cores of a 2-core
# machine busy; it stops at the first run that fails. stress-ng is stopped
# on every way out. Each run's output goes to BUILD/check-loaded/run-N.log
# (the section headers and failures also here); the end is
#   check-loaded: K of RUNS runs passed under stress-ng --cpu 2 (wall: ...)
#   N passed, N failed[, N skipped]          (the runs' totals added up)
# and the exit status is non-zero unless every run passed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
IVS_BUILD=${IVS_BUILD:-$REPO/build}
export IVS_BUILD
RUNS=${RUNS:-3}
STRESS=(stress-ng --cpu 2)

"$HERE/deps.sh" | tail -n 1
command -v stress-ng >/dev/null ||
	{ echo "check-loaded: stress-ng is missing: apt-get install stress-ng (ci/deps.sh as root)"; exit 1; }

D=$IVS_BUILD/check-loaded
mkdir -p "$D"
rm -f "$D"/run-*.log

# stress-ng, and each make check, run in a process group of their own
# (setsid): the group goes as a whole. stress-ng's own timeout ends it
# should this script be killed with SIGKILL.
SPID='' MPID=''
# in_group PGID: how many live processes are in the group (from /proc)
in_group() {
	cat /proc/[0-9]*/stat 2>/dev/null |
		awk -v g="$1" '{ sub(/.*\) /, "") } $3 == g && $1 != "Z" { n++ } END { print n + 0 }'
}
# stop_group PGID SECONDS: SIGTERM, then SIGKILL after SECONDS
stop_group() {
	local i
	kill -TERM -- "-$1" 2>/dev/null || return 0
	for i in $(seq $(($2 * 10))); do
		[ "$(in_group "$1")" -gt 0 ] || break
		sleep 0.1
	done
	kill -KILL -- "-$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
cleanup() {
	# a make check cut short: its own traps stop its guests and servers
	if [ -n "$MPID" ]; then stop_group "$MPID" 30; MPID=; fi
	if [ -n "$SPID" ]; then stop_group "$SPID" 5; SPID=; fi
}
trap cleanup EXIT
trap 'echo "check-loaded: interrupted"; exit 130' INT TERM HUP

setsid "${STRESS[@]}" --timeout "$((RUNS * 100))m" --quiet >"$D/stress-ng.log" 2>&1 &
SPID=$!
# stress-ng up: its workers running beside it (the bound: 10 s)
for _ in $(seq 100); do
	[ "$(in_group "$SPID")" -ge 3 ] && break
	sleep 0.1
done
if [ "$(in_group "$SPID")" -lt 3 ]; then
	cat "$D/stress-ng.log"
	echo "check-loaded: stress-ng did not start"
	exit 1
fi
echo "check-loaded: ${STRESS[*]} running (pid $SPID, $(nproc) CPUs); $RUNS runs of make check"

fmt() { echo "$(($1 / 60)) min $(($1 % 60)) s"; }
passed=0 tp=0 tf=0 ts=0 walls=() T0=$SECONDS
for i in $(seq "$RUNS"); do
	echo
	echo "### check-loaded: run $i of $RUNS (log: $D/run-$i.log)"
	t0=$SECONDS
	setsid make -C "$REPO" --no-print-directory check >"$D/run-$i.log" 2>&1 &
	MPID=$!
	# progress: the section headers and the failures
	tail -n +1 -f --pid="$MPID" "$D/run-$i.log" |
		grep --line-buffered -E '^(===|not ok|not run here:|make check: wall time)' &
	rc=0
	wait "$MPID" || rc=$?
	MPID=
	wait $! || true
	walls+=("$(fmt $((SECONDS - t0)))")
	# the summary line: last or, when make reports the failure, nearly so
	last=$(tail -n 3 "$D/run-$i.log" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1 || true)
	echo "run $i: exit $rc, ${last:-no summary line}"
	if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
		tp=$((tp + BASH_REMATCH[1])) tf=$((tf + BASH_REMATCH[2]))
		ts=$((ts + ${BASH_REMATCH[4]:-0}))
	else
		tf=$((tf + 1)) # no summary: the run broke off
	fi
	if [ "$(in_group "$SPID")" -lt 3 ]; then
		echo "check-loaded: stress-ng stopped during run $i: the run was not under load"
		tf=$((tf + 1))
		break
	fi
	[ "$rc" -eq 0 ] || { echo "check-loaded: run $i failed (exit $rc); stopping"; break; }
	passed=$((passed + 1))
done
cleanup

echo
echo "check-loaded: $passed of $RUNS runs passed under ${STRESS[*]} (wall: $(j=$(IFS=,; echo "${walls[*]}"); echo "${j//,/, }"); total $(fmt $((SECONDS - T0))))"
if [ "$ts" -gt 0 ]; then
	echo "$tp passed, $tf failed, $ts skipped"
else
	echo "$tp passed, $tf failed"
fi
[ "$passed" -eq "$RUNS" ] && [ "$tf" -eq 0 ]
