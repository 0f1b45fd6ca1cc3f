#!/bin/bash
# bench.sh: what `make bench` runs. Two guests on one ivshmem-server measure
# doorbell round trips (ring by ioctl, ring by the mapped register) against
# busy-polling a flag in shared memory, and one-way ring rates, all in the
# same run; the table is reported, never asserted. Guests run under TCG, so
# absolute numbers say little about KVM; the ratios are the point.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=payload.sh
. "$HERE/payload.sh"

"$HERE/deps.sh" >/dev/null
"$HERE/prepare.sh" "$IVS_BUILD" >/dev/null
ivs_env
W=$IVS_BUILD/bench
rm -rf "$W"
mkdir -p "$W"
ivs_build_payload "$W" >/dev/null

SOCK=$W/bench.sock
ivs_start_server "$SOCK" "ivs-bench-$IVS_USER-$$" 1
run() { # ROLE
	IVS_PLANS=1 ivs_guest "bench-$1" "$W/initrd.gz" bench.sh --mem 256 \
		--append "ivs.role=$1 ivs.slot=10 ivs.rounds=${ROUNDS:-2000}" -- \
		-chardev "socket,path=$SOCK,id=db" \
		-device ivshmem-doorbell,chardev=db,vectors=1,addr=0x10 >/dev/null
}
echo "bench: booting two guests (TCG), about a minute"
run B &
b=$!
run A &
a=$!
ivs_kill_on_exit "$a"
ivs_kill_on_exit "$b"
rc=0
wait "$a" || rc=1
wait "$b" || rc=1
echo
grep -h '^BENCH' "$IVS_LOGDIR/bench-A.log" | sed 's/^BENCH //' | tr -d '\r'
[ $rc -eq 0 ] || { echo "bench: a guest failed, see $IVS_LOGDIR/bench-[AB].log"; exit 1; }
