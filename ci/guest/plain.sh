# plain.sh: guest side of the ivshmem-plain checks (busybox sh).
#
# IVS_DEVS (from ivs.devs=) lists the devices QEMU was given, comma
# separated, each SLOT:SIZE:HIGH:HOSTSEED:GUESTSEED, where SLOT is the PCI
# slot in hex, HIGH 1 when BAR2 must sit above 4 GiB. IVS_LIFECYCLE=1 also
# runs the unbind/rebind and module unload checks.

P=/payload
rc=0

echo "# MTRRs:"; sed 's/^/#   /' /proc/mtrr
insmod $P/ivshmem.ko || { echo "1..1"; echo "not ok 1 insmod ivshmem.ko"; exit 1; }
insmod $P/ivshmem_ptecheck.ko || echo "# no ivshmem_ptecheck: cache checks skip"

node_of() { # SLOT -> /dev/ivshmemN
	for d in /sys/bus/pci/devices/0000:00:$1.0/ivshmem/ivshmem*; do
		[ -e "$d" ] && echo "/dev/${d##*/}" && return 0
	done
	return 1
}

IFS=,
for spec in $IVS_DEVS; do
	IFS=: read -r slot size high hseed gseed <<-X
	$spec
	X
	node=$(node_of "$slot") || { echo "# no device in slot $slot"; rc=1; continue; }
	echo "# $node: slot $slot, $size bytes"
	IVSHMEM_DEV=$node IVSHMEM_EXPECT_SIZE=$size IVSHMEM_EXPECT_VECTORS=0 \
	IVSHMEM_EXPECT_PEER=0 IVSHMEM_EXPECT_HIGH=$high \
	IVSHMEM_HOST_SEED=$hseed IVSHMEM_GUEST_SEED=$gseed \
		$P/ivshmem_test || rc=1
done
unset IFS

[ "${IVS_LIFECYCLE:-0}" = 1 ] || exit $rc

first=$(node_of "${IVS_DEVS%%:*}")
IVSHMEM_DEV=$first $P/ivshmem_lifecycle_test || rc=1

# Unload and load again with nothing open: clean both ways.
echo "1..3"
rmmod ivshmem_ptecheck 2>/dev/null
if rmmod ivshmem && [ ! -e /sys/class/ivshmem ]; then
	echo "ok 1 rmmod after the last close"
else
	echo "not ok 1 rmmod after the last close"; rc=1
fi
sleep 1
if ls /dev/ivshmem* >/dev/null 2>&1; then
	echo "not ok 2 device nodes removed with the module"; rc=1
else
	echo "ok 2 device nodes removed with the module"
fi
n=$(echo "$IVS_DEVS" | tr ',' '\n' | wc -l)
if insmod $P/ivshmem.ko && [ "$(ls -d /sys/class/ivshmem/ivshmem* | wc -l)" = "$n" ]; then
	echo "ok 3 insmod again binds all $n devices"
else
	echo "not ok 3 insmod again binds all $n devices"; rc=1
fi
rmmod ivshmem
exit $rc
