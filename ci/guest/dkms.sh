# dkms.sh: guest side of the DKMS check (busybox sh): the module that dkms
# built for this kernel loads and binds the ivshmem-plain device in slot
# IVS_SLOT, and unloads.

P=/payload
echo "1..3"
echo "# kernel $(uname -r)"
if insmod $P/ivshmem.ko; then
	echo "ok 1 insmod the DKMS-built ivshmem.ko"
else
	echo "not ok 1 insmod the DKMS-built ivshmem.ko"
	echo "not ok 2 a device appears # no module"
	echo "not ok 3 rmmod # no module"
	exit 1
fi
rc=0
node=
for d in /sys/bus/pci/devices/0000:00:$IVS_SLOT.0/ivshmem/ivshmem*; do
	[ -e "$d" ] && node=/dev/${d##*/}
done
if [ -n "$node" ] && [ -c "$node" ]; then
	echo "ok 2 a device appears: $node"
else
	echo "not ok 2 a device appears in slot $IVS_SLOT"; rc=1
fi
if rmmod ivshmem && [ ! -e /sys/module/ivshmem ]; then
	echo "ok 3 rmmod"
else
	echo "not ok 3 rmmod"; rc=1
fi
exit $rc
