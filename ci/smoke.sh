#!/bin/bash
# smoke.sh [BUILD]: end-to-end check of the VM harness itself (no driver needed).
# Boots two guests at once: "main" with three ivshmem-plain devices (1 MiB,
# 64 MiB, 1 GiB; a pci-testdev with a 4 GiB BAR pushes the 64-bit BARs above
# 4 GiB) and "peer" sharing the 64 MiB one. The host writes a pattern
# before boot, the guests read it through sysfs resource2 mmaps and hand
# markers to each other; the host hot-adds and removes a 4 MiB device through
# the monitor, then checks the guests' markers in the backing file.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] && export IVS_BUILD=$1
# shellcheck source=lib.sh
. "$HERE/lib.sh"

"$HERE/prepare.sh" "$IVS_BUILD" >/dev/null
ivs_env
W=$IVS_BUILD/smoke
rm -rf "$W" && mkdir -p "$W/payload"
gcc -O2 -Wall -Wextra -o "$W/ivs-mem" "$HERE/ivs-mem.c"
cp "$W/ivs-mem" "$HERE/smoke-guest.sh" "$W/payload/"
"$HERE/mkinitramfs.sh" "$W/initrd.gz" "$W/payload"

small=$(ivs_shm_file small 1M)
mid=$(ivs_shm_file mid 64M)
big=$(ivs_shm_file big 1G)
hp=$(ivs_shm_file hp 4M)
MAGIC="ivs-smoke-$$-$RANDOM"
"$W/ivs-mem" "$mid" write 0 "$MAGIC"
"$W/ivs-mem" "$mid" write $((64 * 1048576 - 4096)) "$MAGIC"
MON=$W/main.monitor
rm -f "$IVS_LOGDIR"/main.log* "$IVS_LOGDIR"/peer.log*	# no stale markers

wait_log() { # wait_log LOG TEXT SECONDS
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
hotplug() { # host side of the hot-plug test, run in the background
	local log=$IVS_LOGDIR/main.log
	if wait_log "$log" IVS-SMOKE-HOTPLUG-READY 300 &&
	   "$HERE/monitor.sh" "$MON" "device_add ivshmem-plain,id=hp,memdev=hp-mem"; then
		host_ok "device_add through the monitor"
	else
		host_fail "device_add through the monitor"
	fi
	if wait_log "$log" IVS-SMOKE-UNPLUG-READY 120 &&
	   "$HERE/monitor.sh" "$MON" "device_del hp"; then
		host_ok "device_del through the monitor"
	else
		host_fail "device_del through the monitor"
	fi
}

# shellcheck disable=SC2046 # ivs_plain_dev prints several arguments
ivs_guest main "$W/initrd.gz" smoke-guest.sh --monitor "$MON" \
	--append "ivs.role=main ivs.magic=$MAGIC" -- \
	$(ivs_plain_dev s "$small") $(ivs_plain_dev m "$mid") $(ivs_plain_dev b "$big") \
	$(ivs_high_bars) \
	-object "memory-backend-file,id=hp-mem,size=4M,share=on,mem-path=$hp" &
main_pid=$!
# shellcheck disable=SC2046
ivs_guest peer "$W/initrd.gz" smoke-guest.sh --append "ivs.role=peer ivs.magic=$MAGIC" -- \
	$(ivs_plain_dev m "$mid") &
peer_pid=$!
hotplug &
hp_pid=$!
ivs_kill_on_exit "$main_pid"; ivs_kill_on_exit "$peer_pid"; ivs_kill_on_exit "$hp_pid"
wait "$main_pid" || true
wait "$peer_pid" || true
wait "$hp_pid" || true

for who in main peer; do
	off=$([ $who = main ] && echo 4096 || echo 8192)
	if [ "$("$W/ivs-mem" "$mid" read "$off" $((${#MAGIC} + 5)))" = "$who-$MAGIC" ]; then
		host_ok "$who guest's marker is in the backing file"
	else
		host_fail "$who guest's marker is in the backing file"
	fi
done
ivs_summary
