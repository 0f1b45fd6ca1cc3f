# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# tap.sh: sourced by the host-side test runners (run-server-tests.sh,
# run-chan-tests.sh, run-fuzz.sh). It sets HERE, SRC (userspace/), ROOT
# (the repository) and BUILD (the first argument, else ROOT/build/$1 of
# tap_init), and gives them TAP numbering, a compile step, a runner for
# test programs and a bounded wait for events:
#
#   tap_init DEFAULT_BUILD_NAME "$@"   sets BUILD, creates it
#   say_ok / say_not_ok DESCRIPTION, say_skip DESCRIPTION REASON
#   comment                            stdin as TAP comments
#   build WHAT CC-ARGS...              ok only if the compiler printed nothing
#   run_tap NAME COMMAND...            numbers COMMAND's "ok - "/"not ok - "
#                                      lines; a crash, or a non-zero exit
#                                      without a failed line, is a failure
#                                      (RUN_TAP_NOTE is added to its text)
#   wait_until WHAT COMMAND...         polls COMMAND until it succeeds, at
#                                      most IVS_WAIT_TIMEOUT (120) seconds;
#                                      then one comment naming WHAT, and fails
#   tap_end [NOTE]                     the plan, a summary comment; status

HERE=$(cd "$(dirname "${BASH_SOURCE[1]}")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
ROOT=$(cd "$SRC/.." && pwd)
CC=${CC:-gcc}
WAIT=${IVS_WAIT_TIMEOUT:-120}
RUN_TAP_NOTE=${RUN_TAP_NOTE:-}
n=0
failed=0
tap_start=$(date +%s)

tap_init() {
	BUILD=${2:-$ROOT/build/$1}
	mkdir -p "$BUILD" || exit 1
	BUILD=$(cd "$BUILD" && pwd)
}

say_ok() { n=$((n + 1)); echo "ok $n - $*"; }
say_not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
say_skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
comment() { sed 's/^/# /'; }

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
		say_not_ok "$name exited with status ${status:-?}${RUN_TAP_NOTE:+ ($RUN_TAP_NOTE)}"
	fi
}

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

tap_end() {
	echo "1..$n"
	echo "# $failed of $n failed, $(($(date +%s) - tap_start)) s${1:+, $1}"
	[ $failed -eq 0 ]
}
