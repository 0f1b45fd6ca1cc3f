# chan-chaos.sh: guest side of the hostile-peer check of libivshmem channels
# (busybox sh). IVS_ROLE is A or B, IVS_SLOT the PCI slot of the
# ivshmem-doorbell device, IVS_SECONDS how long to pass messages while the
# host's chan-scribble writes garbage into the region. chan-peer-san is
# built with -fsanitize=address,undefined: a report aborts it.

P=/payload
export LD_LIBRARY_PATH=$P/lib
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1
insmod $P/ivshmem.ko || { echo "1..1"; echo "not ok 1 insmod ivshmem.ko"; exit 1; }
node=
for d in /sys/bus/pci/devices/0000:00:$IVS_SLOT.0/ivshmem/ivshmem*; do
	[ -e "$d" ] && node=/dev/${d##*/}
done
[ -n "$node" ] || { echo "1..1"; echo "not ok 1 device in slot $IVS_SLOT"; exit 1; }
rc=0
$P/chan-peer-san chaos-dev "$IVS_ROLE" "$node" "${IVS_SECONDS:-45}" || rc=1
rmmod ivshmem || rc=1
exit $rc
