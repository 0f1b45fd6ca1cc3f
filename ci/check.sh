#!/bin/bash
# check.sh: everything `make check` does, on a fresh Debian 12 machine.
#  1. installs what is missing (deps.sh) and fetches the guest kernel and the
#     kernel-source pieces (prepare.sh);
#  2. builds the module with W=1, runs sparse and checkpatch on it;
#  3. builds the selftests, the test helper module and the initramfs;
#  4. boots the guests (two at a time) and runs the selftests in them;
#  5. checks from the host what the guests left in the backing files;
#     (4 and 5: scenarios.sh)
#  6. as root: DKMS for 6.1, then the same for the 6.12 and 7.x kernels
#     in their chroots (KERNELS, see matrix.sh; IVS_DKMS=0: no DKMS);
#  7. tests libivshmem, the CLI, the udev rule and the install in a guest
#     (lib-check.sh), the Debian packages (deb-check.sh), and runs the
#     host-side tests and fuzzers of the userspace;
#  8. runs the guests again on a KASAN + lockdep + kmemleak kernel, with
#     the ABI fuzzer, hot-unplug under load and a ring storm (debug.sh);
#  9. runs every target README names (targets.sh: the cheap ones for real,
#     in a scratch copy of the tree);
# then names the targets it does not run, and prints, last but one, its wall
# time and, last, "N passed, N failed[, N skipped]".
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=payload.sh
. "$HERE/payload.sh"
# shellcheck source=scenarios.sh
. "$HERE/scenarios.sh"
# shellcheck source=lib-check.sh
. "$HERE/lib-check.sh"
REPO=$IVS_REPO

step() { echo; echo "=== $*"; }

# ivs_summary's output with the wall time inserted before its last line,
# "N passed, N failed[, N skipped]"; its status.
check_summary() {
	local out rc=0 t=$SECONDS
	out=$(ivs_summary) || rc=$?
	printf '%s\n' "$out" | sed '$d'
	echo "make check: wall time $((t / 60)) min $((t % 60)) s"
	printf '%s\n' "$out" | tail -n 1
	return "$rc"
}

step "dependencies"
"$HERE/deps.sh"
"$HERE/prepare.sh" "$IVS_BUILD"
ivs_env
W=$IVS_BUILD/check
rm -rf "$W"
mkdir -p "$W/payload"

step "module: build with W=1 against $KDIR"
make -C "$REPO" -s clean-module
if make -C "$KDIR" M="$REPO" W=1 modules >"$W/build.log" 2>&1; then
	if grep -E 'warning:|error:' "$W/build.log"; then
		host_fail "module builds with no W=1 warning"
	else
		host_ok "module builds with no W=1 warning"
	fi
else
	cat "$W/build.log"
	host_fail "module builds"
	check_summary
	exit 1
fi

step "module: sparse"
if make -C "$KDIR" M="$REPO" C=2 modules >"$W/sparse.log" 2>&1 &&
   ! grep -E 'warning:|error:' "$W/sparse.log"; then
	host_ok "sparse reports nothing"
else
	host_fail "sparse reports nothing (see $W/sparse.log)"
fi

step "module: checkpatch --strict"
# the list of files is ci/checkpatch.sh's, which make checkpatch runs too
nksrc=$("$HERE/checkpatch.sh" --list | wc -l)
if CHECKPATCH=$CHECKPATCH IVS_BUILD=$IVS_BUILD "$HERE/checkpatch.sh" >"$W/checkpatch.log" 2>&1; then
	host_ok "checkpatch --strict is clean on $nksrc files"
else
	grep -E 'ERROR|WARNING|CHECK|^checkpatch:' "$W/checkpatch.log" | head -20
	host_fail "checkpatch --strict is clean"
fi

step "module: kernel-doc"
if perl "$KDIR/scripts/kernel-doc" -none "$REPO"/driver/*.[ch] "$REPO/uapi/linux/ivshmem.h" \
	>"$W/kernel-doc.log" 2>&1 && ! grep -qE 'warning|error' "$W/kernel-doc.log"; then
	host_ok "kernel-doc comments are well formed"
else
	cat "$W/kernel-doc.log"
	host_fail "kernel-doc comments are well formed"
fi

step "selftests, helper module, host tools, initramfs"
ivs_build_payload "$W" || { host_fail "selftests and tools build"; check_summary; exit 1; }

ivs_scenarios "$W"

step "libivshmem, the ivshmem CLI, udev rule and install (lib-check)"
lib_check_main || host_fail "lib-check: userspace builds (see $IVS_BUILD/lib-check/build.log)"

# The other kernels of the matrix, each built and booted the same way (see
# scenarios.sh, kernels.sh; KERNELS="6.1" or "" leaves them out), and DKMS
# for each kernel (IVS_DKMS=0 leaves it out). Chroots and DKMS need root.
# shellcheck source=dkms-check.sh
. "$HERE/dkms-check.sh"
export IVS_DKMS=${IVS_DKMS:-1}
if [ "$(id -u)" -ne 0 ]; then
	host_skip "kernels other than 6.1 and DKMS: they need root"
else
	if [ "$IVS_DKMS" = 1 ]; then ivs_dkms 6.1 || true; fi
	for k in ${KERNELS-6.12 7.x}; do
		[ "$k" = 6.1 ] || ivs_lane "$k" || true
	done
fi

# The Debian packages: built, linted, installed in a bookworm chroot, used
# in a guest (deb-check.sh; IVS_DEB=0 leaves them out).
# shellcheck source=deb-check.sh
. "$HERE/deb-check.sh"
if [ "${IVS_DEB:-1}" = 1 ]; then deb_check_main || true; fi

# Host-side TAP suites: each "ok"/"not ok" line counts.
host_tap() { # NAME LOG COMMAND...
	local name=$1 log=$2 rc=0 n=0 line
	shift 2
	"$@" >"$log" 2>&1 || rc=$?
	while IFS= read -r line; do
		case "$line" in
		"ok "*"# SKIP"*) host_skip "$name: ${line#ok }"; n=$((n + 1)) ;;
		"ok "*) host_ok "$name: ${line#ok }"; n=$((n + 1)) ;;
		"not ok "*) host_fail "$name: ${line#not ok }"; n=$((n + 1)) ;;
		esac
	done <"$log"
	if [ "$rc" -ne 0 ] || [ "$n" -eq 0 ]; then
		tail -20 "$log"
		host_fail "$name: exits 0 with results (rc $rc, $n results)"
	fi
}

step "host: ivshmem-server and host peer"
host_tap server "$W/server-tests.log" \
	"$REPO/userspace/tests/run-server-tests.sh" "$IVS_BUILD/host-tests"

step "host: the ivshmem CLI as a host peer (ivshmem peer)"
host_tap "cli peer" "$W/cli-peer-test.log" \
	"$REPO/userspace/tests/cli-peer-test.sh" "$IVS_BUILD/cli-peer-test"

step "host: libivshmem channels between host peers, a hostile peer, sanitizers"
host_tap channels "$W/chan-tests.log" \
	"$REPO/userspace/tests/run-chan-tests.sh" "$IVS_BUILD/chan-tests"

step "host: ivshmem-server under systemd's protocols (units, socket activation, notify)"
host_tap systemd "$W/systemd-test.log" \
	"$REPO/userspace/tests/systemd-test.sh" "$IVS_BUILD/host-systemd"

step "host: randomized fuzzing of ivshmem-server and the host peer library"
host_tap fuzz "$W/fuzz.log" "$REPO/userspace/tests/run-fuzz.sh" "$IVS_BUILD/host-fuzz" 20

step "the VM runner: bad input and its own self-test (ci/runner-test.sh)"
host_tap runner "$W/runner-test.log" "$HERE/runner-test.sh" "$IVS_BUILD"

step "selftests/ivshmem as tools/testing/selftests/ivshmem of a kernel tree"
host_tap "kselftest tree" "$W/kselftest-tree.log" "$HERE/kselftest-tree.sh" "$IVS_BUILD"

step "every target README names (ci/targets.sh, in a scratch copy)"
host_tap targets "$W/targets.log" env KDIR="$KDIR" CHECKPATCH="$CHECKPATCH" \
	IVS_BUILD="$IVS_BUILD" "$HERE/targets.sh" "$W/targets"

# The guests again on a KASAN + lockdep + kmemleak kernel built from
# linux-source-6.1, plus the ABI fuzzer, hot-unplug under load and a ring
# storm (debug.sh; IVS_DEBUG_LANE=0 leaves it out).
if [ "${IVS_DEBUG_LANE:-1}" = 1 ]; then
	step "debug lane: the guests on a KASAN + lockdep + kmemleak kernel (ci/debug.sh)"
	rc=0
	"$HERE/debug.sh" >"$W/debug-lane.log" 2>&1 || rc=$?
	grep -E '^(not ok|ok) - host:|^guest |^check-log:|^fuzz seed|^debug-kernel:' \
		"$W/debug-lane.log" || true
	if [ "$rc" -eq 0 ]; then
		host_ok "debug lane: $(tail -n 1 "$W/debug-lane.log")"
	else
		host_fail "debug lane: $(tail -n 1 "$W/debug-lane.log") (log: $W/debug-lane.log)"
	fi
fi

# What make check leaves to other targets, or left out here.
notrun=("make check-loaded (make check 3 times under stress-ng --cpu 2)"
	"make bench" "make demo")
if [ "$(id -u)" -ne 0 ]; then
	notrun+=("make matrix (as root: the other kernels and DKMS)")
else
	left=()
	for k in $("$HERE/kernels.sh" names); do
		case " 6.1 ${KERNELS-6.12 7.x} " in *" $k "*) ;; *) left+=("$k") ;; esac
	done
	[ ${#left[@]} -eq 0 ] || notrun+=("make matrix KERNELS=\"${left[*]}\"")
	[ "$IVS_DKMS" = 1 ] || notrun+=("DKMS (IVS_DKMS=0)")
fi
[ "${IVS_DEB:-1}" = 1 ] || notrun+=("make deb-check (IVS_DEB=0)")
[ "${IVS_DEBUG_LANE:-1}" = 1 ] || notrun+=("the debug lane: bash ci/debug.sh (IVS_DEBUG_LANE=0)")
notrun+=("make install outside a DESTDIR")

step "summary"
ivs_lane_lines
printf 'not run here: %s' "${notrun[0]}"
printf ', %s' "${notrun[@]:1}"
echo
check_summary
