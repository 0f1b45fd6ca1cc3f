# storm.sh: guest side of the ring storm (busybox sh). IVS_SLOT is the PCI
# slot of the ivshmem-doorbell device; a host peer (host-storm) rings all
# its vectors; /dev/ttyS1 answers its pings.

P=/payload
insmod $P/ivshmem.ko || { echo "1..1"; echo "not ok 1 insmod ivshmem.ko"; exit 1; }
node=
for d in /sys/bus/pci/devices/0000:00:$IVS_SLOT.0/ivshmem/ivshmem*; do
	[ -e "$d" ] && node=/dev/${d##*/}
done
[ -n "$node" ] || { echo "1..1"; echo "not ok 1 device in slot $IVS_SLOT"; exit 1; }
rc=0
# the first (here: only) doorbell device
$P/ivshmem_storm_test /dev/ttyS1 || rc=1
grep ivshmem /proc/interrupts | sed 's/^/# /'
rmmod ivshmem || rc=1
exit $rc
