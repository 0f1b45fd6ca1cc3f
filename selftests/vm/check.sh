#!/bin/bash
# check.sh: everything `make check` does, on a fresh Debian 12 machine.
#  1. installs what is missing (deps.sh) and fetches the guest kernel and the
#     kernel-source pieces (prepare.sh);
#  2. builds the module with W=1, runs sparse and checkpatch on it;
#  3. builds the selftests, the test helper module and the initramfs;
#  4. boots the guests (two at a time) and runs the selftests in them;
#  5. checks from the host what the guests left in the backing files;
#  6. runs the host-side tests of the userspace;
# and prints, last, "N passed, N failed[, N skipped]".
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=payload.sh
. "$HERE/payload.sh"
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

step "guests"
# Low: BAR2s in the 32-bit PCI hole, which SeaBIOS's MTRRs mark uncachable.
lo1=$(ivs_shm_file lo-1m 1M)
lo64=$(ivs_shm_file lo-64m 64M)
lo1g=$(ivs_shm_file lo-1g 1G)
# High: a 4 GiB BAR of pci-testdev pushes every 64-bit BAR above 4 GiB.
hi2=$(ivs_shm_file hi-2m 2M)
hi1g=$(ivs_shm_file hi-1g 1G)

seed=$((RANDOM * 65536 + RANDOM))
declare -A hseed gseed
for f in "$lo1" "$lo64" "$lo1g" "$hi2" "$hi1g"; do
	hseed[$f]=$((seed++))
	gseed[$f]=$((seed++))
	"$W/pattern-tool" fill "$f" 0 65536 "${hseed[$f]}"
done

plain() { # SLOT ID FILE: QEMU arguments of one device at a fixed slot
	echo "-object memory-backend-file,id=$2-mem,size=$(stat -c %s "$3"),share=on,mem-path=$3" \
	     "-device ivshmem-plain,id=$2,memdev=$2-mem,addr=0x$1"
}
spec() { # SLOT FILE HIGH: one entry of ivs.devs
	echo "$1:$(stat -c %s "$2"):$3:${hseed[$2]}:${gseed[$2]}"
}

# shellcheck disable=SC2046 # plain prints several arguments
IVS_PLANS=5 ivs_guest plain-low "$W/initrd.gz" plain.sh --mem 512 \
	--append "ivs.lifecycle=1 ivs.devs=$(spec 10 "$lo1" 0),$(spec 11 "$lo64" 0),$(spec 12 "$lo1g" 0)" -- \
	$(plain 10 lo1 "$lo1") $(plain 11 lo64 "$lo64") $(plain 12 lo1g "$lo1g") &
low=$!
# shellcheck disable=SC2046
IVS_PLANS=2 ivs_guest plain-high "$W/initrd.gz" plain.sh --mem 512 \
	--append "ivs.devs=$(spec 10 "$hi2" 1),$(spec 11 "$hi1g" 1)" -- \
	$(plain 10 hi2 "$hi2") $(plain 11 hi1g "$hi1g") $(ivs_high_bars) &
high=$!
ivs_kill_on_exit "$low"
ivs_kill_on_exit "$high"
wait "$low" || true
wait "$high" || true

step "doorbell guest: loopback through ivshmem-server"
SOCK=$W/ivshmem.sock
SHM=ivs-test-$IVS_USER-$$-loop
ivs_start_server "$SOCK" "$SHM" 4
server=$IVS_SERVER_PID
# shellcheck disable=SC2046
IVS_PLANS=2 ivs_guest doorbell "$W/initrd.gz" doorbell.sh --mem 512 \
	--append "ivs.devs=10:4194304:4" -- \
	-chardev "socket,path=$SOCK,id=db" \
	-device ivshmem-doorbell,chardev=db,vectors=4,addr=0x10 || true
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
if [ ! -e "$SOCK" ] && [ ! -e "/dev/shm/$SHM" ]; then
	host_ok "ivshmem-server removed its socket and memory on SIGTERM"
else
	host_fail "ivshmem-server removed its socket and memory on SIGTERM"
fi

step "two guests and a host peer on one ivshmem-server"
SOCK=$W/pair.sock
SHM=ivs-test-$IVS_USER-$$-pair
ivs_start_server "$SOCK" "$SHM" 4
server=$IVS_SERVER_PID
"$W/host-peer" "$SOCK" 900 >"$IVS_LOGDIR/host-peer.log" 2>&1 &
hostpeer=$!
ivs_kill_on_exit "$hostpeer"
pair() { # ROLE
	IVS_PLANS=1 IVS_TIMEOUT=1200 ivs_guest "pair-$1" "$W/initrd.gz" pair.sh \
		--mem 256 --append "ivs.role=$1 ivs.slot=10" -- \
		-chardev "socket,path=$SOCK,id=db" \
		-device ivshmem-doorbell,chardev=db,vectors=4,addr=0x10
}
# B first: the host peer expects B to leave before A.
pair B &
gb=$!
pair A &
ga=$!
ivs_kill_on_exit "$ga"
ivs_kill_on_exit "$gb"
wait "$gb" || true
wait "$ga" || true
wait "$hostpeer" || true
while IFS= read -r line; do
	case "$line" in
	"ok "*) host_ok "${line#ok [0-9]* - }" ;;
	"not ok "*) host_fail "${line#not ok [0-9]* - }" ;;
	esac
done <"$IVS_LOGDIR/host-peer.log"
grep -q '^1\.\.' "$IVS_LOGDIR/host-peer.log" ||
	host_fail "host peer finished (see $IVS_LOGDIR/host-peer.log)"
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true

step "host: what the guests wrote"
for f in "$lo1" "$lo64" "$lo1g" "$hi2" "$hi1g"; do
	sz=$(stat -c %s "$f")
	if "$W/pattern-tool" check "$f" $((sz / 2)) 65536 "${gseed[$f]}"; then
		host_ok "guest's pattern is in ${f##*/}"
	else
		host_fail "guest's pattern is in ${f##*/}"
	fi
done

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
ivs_summary
