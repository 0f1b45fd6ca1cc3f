#!/bin/bash
# check-log.sh LOG [EXPECTED_PLANS]: judge a guest's serial console log.
# Fails (exit 1, printing the offending lines) on a failed TAP result, on
# kernel trouble (BUG:, WARNING:, Oops, KASAN, lockdep, list corruption, ...
# in kernel-message lines, i.e. lines with a printk timestamp "[    1.234567] "),
# on a missing "IVS-GUEST-DONE rc=N" marker, on rc!=0 not explained by a failed
# TAP result, and on broken TAP: results without a plan, a plan "1..N" not
# followed by N results, "Bail out!", or a number of plans other than
# EXPECTED_PLANS (default: at least one; pass 0 for a log without TAP).
# Counts the top-level TAP results (lines starting "ok"/"not ok"; "# SKIP"
# counts as skipped), prints "LOG: P passed, F failed, S skipped" and writes
# "P F S" to LOG.counts. IVS_LOG_ALLOW (an ERE) exempts matching kernel lines.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then echo "usage: $0 LOG [EXPECTED_PLANS]" >&2; exit 2; fi
LOG=$1
EXPECTED=${2:-}
[ -f "$LOG" ] || { echo "check-log: no log $LOG" >&2; exit 1; }

KERNEL_LINE='\[ *[0-9]+\.[0-9]+\] '
TROUBLE='BUG:|WARNING:|Oops|KASAN|UBSAN|general protection|Call Trace|Kernel panic'
TROUBLE+='|kernel BUG|unreferenced object|suspected memory leak|refcount_t: '
TROUBLE+='|possible circular locking|possible recursive locking|inconsistent lock state'
TROUBLE+='|sleeping function called from invalid context|list_add corruption'
TROUBLE+='|list_del corruption|blocked for more than|rcu: INFO:|self-detected stall'
fail=0
problem() { echo "check-log: $LOG: $*"; fail=1; }

# kernel trouble
bad=$(tr -d '\r' <"$LOG" | grep -nE "$KERNEL_LINE.*($TROUBLE)" || true)
if [ -n "$bad" ] && [ -n "${IVS_LOG_ALLOW:-}" ]; then
	bad=$(grep -vE "$IVS_LOG_ALLOW" <<<"$bad" || true)
fi
if [ -n "$bad" ]; then
	problem "kernel reported trouble:"
	echo "    ${bad//$'\n'/$'\n'    }"
fi
{ grep "^IVS-HOST:" "$LOG" || true; } | while IFS= read -r l; do echo "check-log: $LOG: $l"; done # hang

# TAP: counts, plans, bail-outs
tap=$(tr -d '\r' <"$LOG" | awk '
	function close_plan() {
		if (open && got != want)
			printf "PROBLEM plan 1..%d at line %d got %d results\n", want, pline, got
		open = 0; got = 0
	}
	/^1\.\.[0-9]+/ {
		n = substr($1, 4) + 0; plans++
		if (open) close_plan()
		if (orphans) {		# a plan after its results
			if (orphans != n)
				printf "PROBLEM plan 1..%d at line %d after %d results\n", n, NR, orphans
			orphans = 0
		} else {
			open = 1; want = n; got = 0; pline = NR
			if (n == 0 && $0 ~ /# *[Ss][Kk][Ii][Pp]/) skip++
			if (n == 0) open = 0
		}
		next
	}
	/^(not )?ok( |$)/ {
		if (open) { got++; if (got == want) open = 0 } else orphans++
		if ($0 ~ /# *[Ss][Kk][Ii][Pp]/ || ($0 ~ /^not ok/ && $0 ~ /# *[Tt][Oo][Dd][Oo]/)) skip++
		else if ($0 ~ /^not ok/) { fail++; printf "FAILED line %d: %s\n", NR, $0 }
		else pass++
		next
	}
	/^Bail out!/ { printf "PROBLEM line %d: %s\n", NR, $0 }
	END {
		close_plan()
		if (orphans) printf "PROBLEM %d results without a plan\n", orphans
		printf "COUNTS %d %d %d %d\n", pass, fail, skip, plans
	}')
read -r _ P F S NPLANS < <(grep '^COUNTS ' <<<"$tap")
while IFS= read -r l; do
	case "$l" in
	PROBLEM*) problem "TAP: ${l#PROBLEM }" ;;
	FAILED*) echo "check-log: $LOG: ${l#FAILED }"; fail=1 ;;
	esac
done <<<"$tap"
if [ -z "$EXPECTED" ]; then
	[ "$NPLANS" -ge 1 ] || problem "TAP: no plan (1..N) found"
elif [ "$NPLANS" -ne "$EXPECTED" ]; then
	problem "TAP: $NPLANS plans found, $EXPECTED expected"
fi

# the guest's end marker
rc=$(tr -d '\r' <"$LOG" | sed -n 's/^IVS-GUEST-DONE rc=\([0-9]*\)$/\1/p' | tail -n1)
if [ -z "$rc" ]; then
	problem "no IVS-GUEST-DONE marker (guest crashed or hung)"
elif [ "$rc" -ne 0 ] && [ "$F" -eq 0 ]; then
	problem "guest script exited rc=$rc without a failed TAP result"
fi

echo "$P $F $S" >"$LOG.counts"
echo "$LOG: $P passed, $F failed, $S skipped"
exit $fail
