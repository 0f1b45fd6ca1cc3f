#!/bin/sh
# smoke-guest.sh: guest side of smoke.sh (busybox sh, run by guest-init.sh).
# IVS_ROLE=main: three ivshmem-plain devices (1 MiB, 64 MiB, 1 GiB), then a
# hot-added 4 MiB one that is unplugged again; IVS_ROLE=peer: the 64 MiB one
# only. Both check the host's pattern (IVS_MAGIC) and hand markers to each
# other through the shared 64 MiB region. Prints TAP.

MEM=/payload/ivs-mem
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n $*"; }
check() { # check DESCRIPTION COMMAND...
	d=$1; shift
	if "$@"; then ok "$d"; else not_ok "$d"; fi
}

ivshmem_devs() { # the 1af4:1110 devices' sysfs directories
	for d in /sys/bus/pci/devices/*; do
		# (2>/dev/null: a device may go away while we look)
		[ "$(cat "$d/vendor" 2>/dev/null)" = 0x1af4 ] &&
			[ "$(cat "$d/device" 2>/dev/null)" = 0x1110 ] && echo "$d"
	done
}
bar() { # bar DEV N: prints "START SIZE" of BAR N (from the sysfs resource file)
	# shellcheck disable=SC2046 # split the line into start, end, flags
	set -- $(sed -n "$(($2 + 1))p" "$1/resource")
	echo "$(($1)) $(($2 - $1 + 1))"
}
bar_size() { bar "$1" "$2" | cut -d' ' -f2; }
dev_of_size() { # the device whose BAR2 has SIZE bytes
	for d in $(ivshmem_devs); do
		[ "$(bar_size "$d" 2)" = "$1" ] && echo "$d" && return 0
	done
	return 1
}
count() { ivshmem_devs | wc -l; }
wait_count() { # wait_count N SECONDS
	i=0
	while [ "$(count)" -ne "$1" ] && [ $i -lt $(($2 * 10)) ]; do sleep 0.1; i=$((i + 1)); done
	[ "$(count)" -eq "$1" ]
}

MiB=1048576
for d in $(ivshmem_devs); do
	# shellcheck disable=SC2046
	set -- $(bar "$d" 2)
	printf '# %s BAR0 %d bytes, BAR2 at 0x%x, %d MiB\n' "${d##*/}" "$(bar_size "$d" 0)" "$1" "$(($2 / MiB))"
done
sed 's/^/# mtrr: /' /proc/mtrr

if [ "$IVS_ROLE" = peer ]; then
	echo "1..4"
	check "one ivshmem device present" [ "$(count)" -eq 1 ]
	mid=$(dev_of_size $((64 * MiB))) || mid=/nonexistent
	check "host pattern read through resource2 mmap" \
		[ "$($MEM "$mid/resource2" read 0 ${#IVS_MAGIC})" = "$IVS_MAGIC" ]
	check "main guest's marker arrives" $MEM "$mid/resource2" wait 4096 "main-$IVS_MAGIC" 120
	check "peer marker written" $MEM "$mid/resource2" write 8192 "peer-$IVS_MAGIC"
	[ $failed -eq 0 ]
	exit
fi

echo "1..10"
check "three ivshmem devices present" [ "$(count)" -eq 3 ]
sizes=$(for d in $(ivshmem_devs); do bar_size "$d" 2; done | sort -n | tr '\n' ' ')
check "BAR2 sizes are 1 MiB, 64 MiB, 1 GiB ($sizes)" \
	[ "$sizes" = "$MiB $((64 * MiB)) $((1024 * MiB)) " ]
bad0=""
for d in $(ivshmem_devs); do [ "$(bar_size "$d" 0)" = 256 ] || bad0="$bad0 $d"; done
check "every BAR0 is 256 bytes" [ -z "$bad0" ]
big=$(dev_of_size $((1024 * MiB))) || big=/nonexistent
big_at=$(bar "$big" 2 | cut -d' ' -f1)
check "1 GiB BAR2 above 4 GiB (at $(printf 0x%x "${big_at:-0}"))" [ "${big_at:-0}" -ge $((4096 * MiB)) ]
mid=$(dev_of_size $((64 * MiB))) || mid=/nonexistent
check "host pattern read through resource2 mmap" \
	[ "$($MEM "$mid/resource2" read 0 ${#IVS_MAGIC})" = "$IVS_MAGIC" ]
check "host pattern at the end of the 64 MiB BAR" \
	[ "$($MEM "$mid/resource2" read $((64 * MiB - 4096)) ${#IVS_MAGIC})" = "$IVS_MAGIC" ]
check "main marker written" $MEM "$mid/resource2" write 4096 "main-$IVS_MAGIC"
check "peer guest's marker arrives" $MEM "$mid/resource2" wait 8192 "peer-$IVS_MAGIC" 120

echo "IVS-SMOKE-HOTPLUG-READY"
if wait_count 4 60 && hp=$(dev_of_size $((4 * MiB))); then
	ok "hot-added device appears with a 4 MiB BAR2 (at $(printf 0x%x "$(bar "$hp" 2 | cut -d' ' -f1)"))"
else
	not_ok "hot-added device appears with a 4 MiB BAR2"
fi
echo "IVS-SMOKE-UNPLUG-READY"
check "hot-added device goes away on device_del" wait_count 3 60
[ $failed -eq 0 ]
