# pair.sh: guest side of the two-guest doorbell checks (busybox sh).
# IVS_ROLE is A or B; IVS_SLOT the PCI slot of the ivshmem-doorbell device.

P=/payload
insmod $P/ivshmem.ko || { echo "1..1"; echo "not ok 1 insmod ivshmem.ko"; exit 1; }
node=
for d in /sys/bus/pci/devices/0000:00:$IVS_SLOT.0/ivshmem/ivshmem*; do
	[ -e "$d" ] && node=/dev/${d##*/}
done
[ -n "$node" ] || { echo "1..1"; echo "not ok 1 device in slot $IVS_SLOT"; exit 1; }
rc=0
IVSHMEM_DEV=$node IVSHMEM_ROLE=$IVS_ROLE $P/ivshmem_peers_test || rc=1
rmmod ivshmem || rc=1
exit $rc
