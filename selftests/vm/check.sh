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
#  7. runs the host-side tests of the userspace;
# and prints, last, "N passed, N failed[, N skipped]".
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=payload.sh
. "$HERE/payload.sh"
# shellcheck source=scenarios.sh
. "$HERE/scenarios.sh"
REPO=$IVS_REPO

step() { echo; echo "=== $*"; }

step "dependencies"
"$HERE/deps.sh"
"$HERE/prepare.sh" "$IVS_BUILD"
ivs_env
W=$IVS_BUILD/check
rm -rf "$W"
mkdir -p "$W/payload"

step "module: build with W=1 against $KDIR"
make -C "$KDIR" M="$REPO" clean >/dev/null 2>&1 || true
if make -C "$KDIR" M="$REPO" W=1 modules >"$W/build.log" 2>&1; then
	if grep -E 'warning:|error:' "$W/build.log"; then
		host_fail "module builds with no W=1 warning"
	else
		host_ok "module builds with no W=1 warning"
	fi
else
	cat "$W/build.log"
	host_fail "module builds"
	ivs_summary
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
mapfile -t ksrc < <(cd "$REPO" && git ls-files 'driver/*.[ch]' 'uapi/*.h' \
	'selftests/ivshmem/ptecheck/*.c' 'selftests/ivshmem/ptecheck/probes/*.c' \
	2>/dev/null || ls driver/*.[ch] driver/probes/*.c uapi/linux/*.h)
if (cd "$REPO" && perl "$CHECKPATCH" --strict --no-tree --terse --show-types \
	-f "${ksrc[@]}") >"$W/checkpatch.log" 2>&1; then
	host_ok "checkpatch --strict is clean on ${#ksrc[@]} files"
else
	grep -E 'ERROR|WARNING|CHECK' "$W/checkpatch.log" | head -20
	host_fail "checkpatch --strict is clean"
fi

step "selftests, helper module, host tools, initramfs"
ivs_build_payload "$W" || { host_fail "selftests and tools build"; ivs_summary; exit 1; }

ivs_scenarios "$W"

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

if [ -x "$REPO/userspace/tests/run-server-tests.sh" ]; then
	step "host: ivshmem-server and host peer"
	rc=0
	"$REPO/userspace/tests/run-server-tests.sh" "$IVS_BUILD/host-tests" \
		>"$W/server-tests.log" 2>&1 || rc=$?
	n=0
	while IFS= read -r line; do
		case "$line" in
		"ok "*"# SKIP"*) host_skip "server: ${line#ok }"; n=$((n + 1)) ;;
		"ok "*) host_ok "server: ${line#ok }"; n=$((n + 1)) ;;
		"not ok "*) host_fail "server: ${line#not ok }"; n=$((n + 1)) ;;
		esac
	done <"$W/server-tests.log"
	if [ "$rc" -ne 0 ] || [ "$n" -eq 0 ]; then
		tail -20 "$W/server-tests.log"
		host_fail "server tests exit 0 with results (rc $rc, $n results)"
	fi
fi

step "summary"
ivs_lane_lines
ivs_summary
