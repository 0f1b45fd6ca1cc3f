# doorbell.sh: guest side of the one-guest doorbell checks (busybox sh).
#
# IVS_DEVS lists ivshmem-doorbell devices as SLOT:SIZE:VECTORS, comma
# separated; each runs the device tests and the loopback doorbell tests.

P=/payload
rc=0
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
	IFS=: read -r slot size nvec <<-X
	$spec
	X
	node=$(node_of "$slot") || { echo "# no device in slot $slot"; rc=1; continue; }
	echo "# $node: slot $slot, $size bytes, $nvec vectors"
	IVSHMEM_DEV=$node IVSHMEM_EXPECT_SIZE=$size IVSHMEM_EXPECT_VECTORS=$nvec \
		$P/ivshmem_test || rc=1
	IVSHMEM_DEV=$node IVSHMEM_EXPECT_VECTORS=$nvec \
		$P/ivshmem_doorbell_test || rc=1
done
unset IFS
grep ivshmem /proc/interrupts | sed 's/^/# /'
rmmod ivshmem_ptecheck
rmmod ivshmem || rc=1
exit $rc
