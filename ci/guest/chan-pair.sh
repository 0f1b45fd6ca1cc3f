# chan-pair.sh: guest side of the libivshmem channel between two guests and
# a host process (busybox sh). IVS_ROLE is A (formats the region) or B;
# IVS_SLOT the PCI slot of the ivshmem-doorbell device. The host runs
# chan-peer with role H on the same ivshmem-server.

P=/payload
export LD_LIBRARY_PATH=$P/lib
insmod $P/ivshmem.ko || { echo "1..1"; echo "not ok 1 insmod ivshmem.ko"; exit 1; }
node=
for d in /sys/bus/pci/devices/0000:00:$IVS_SLOT.0/ivshmem/ivshmem*; do
	[ -e "$d" ] && node=/dev/${d##*/}
done
[ -n "$node" ] || { echo "1..1"; echo "not ok 1 device in slot $IVS_SLOT"; exit 1; }
rc=0
$P/chan-peer dev "$IVS_ROLE" "$node" 3 || rc=1
rmmod ivshmem || rc=1
exit $rc
