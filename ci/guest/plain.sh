# plain.sh: guest side of the ivshmem-plain checks (busybox sh).
#
# IVS_SELFTEST (from ivs.selftest=) is the host's description of the devices
# QEMU was given (selftests/ivshmem/devices.h): one device per entry,
# entries separated by ';', words by ','. It becomes
# /etc/ivshmem-selftest.conf, where the selftests find it.
# IVS_LIFECYCLE=1 also runs the unbind/rebind and module unload checks.

P=/payload
rc=0

echo "# MTRRs:"; sed 's/^/#   /' /proc/mtrr
insmod $P/ivshmem.ko || { echo "1..1"; echo "not ok 1 insmod ivshmem.ko"; exit 1; }
insmod $P/ivshmem_ptecheck.ko || echo "# no ivshmem_ptecheck: cache checks skip"
echo "$IVS_SELFTEST" | tr ';,' '\n ' >/etc/ivshmem-selftest.conf
sed 's/^/# description: /' /etc/ivshmem-selftest.conf

# every device, one fixture variant each
$P/ivshmem_test || rc=1

[ "${IVS_LIFECYCLE:-0}" = 1 ] || exit $rc

$P/ivshmem_lifecycle_test || rc=1

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
n=$(grep -c . /etc/ivshmem-selftest.conf)
if insmod $P/ivshmem.ko && [ "$(ls -d /sys/class/ivshmem/ivshmem* | wc -l)" = "$n" ]; then
	echo "ok 3 insmod again binds all $n devices"
else
	echo "not ok 3 insmod again binds all $n devices"; rc=1
fi
rmmod ivshmem
exit $rc
