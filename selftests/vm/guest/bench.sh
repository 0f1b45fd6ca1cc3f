# bench.sh: guest side of `make bench` (busybox sh). IVS_ROLE A or B,
# IVS_SLOT the doorbell device's PCI slot, IVS_ROUNDS round trips.

P=/payload
insmod $P/ivshmem.ko || exit 1
node=
for d in /sys/bus/pci/devices/0000:00:$IVS_SLOT.0/ivshmem/ivshmem*; do
	[ -e "$d" ] && node=/dev/${d##*/}
done
echo "1..1"
if IVSHMEM_DEV=$node IVSHMEM_ROLE=$IVS_ROLE $P/ivshmem_bench "${IVS_ROUNDS:-2000}" 3; then
	echo "ok 1 benchmark ran"
else
	echo "not ok 1 benchmark ran"
fi
rmmod ivshmem
