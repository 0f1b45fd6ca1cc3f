# unplug.sh: guest side of the unplug and unload checks (busybox sh).
# IVS_SLOT is the PCI slot of an ivshmem-doorbell device (at least 2
# vectors, served by ivshmem-server). In order, each a TAP plan:
#  1. security (every device: the one), module as is: exec refused,
#     replies, node permissions
#  2. rmmod attempts under load are refused; rmmod once the load stops
#  3. security with allow_exec=1: exec mappings work
#  4. IVS_UNBIND_LOOPS (default 20) unbind/bind cycles through sysfs under load
#  5. with IVS_HOTPLUG=1: hot-unplug under load, driven from the host's
#     monitor (device_del when it sees IVS-UNPLUG-READY, device_add once
#     it sees IVS-UNPLUG-GONE), then the re-added device at once
#  6. IVS_CYCLES (default 100) load/use/unload cycles of the module
# The module is left unloaded.

P=/payload
pci=0000:00:$IVS_SLOT.0
rc=0
node_of() {
	for d in /sys/bus/pci/devices/$pci/ivshmem/ivshmem*; do
		[ -e "$d" ] && echo "/dev/${d##*/}" && return 0
	done
	return 1
}
load() { # [PARAMS]: insmod, then wait for the node
	insmod $P/ivshmem.ko "$@" || return 1
	n=0
	while ! node=$(node_of) || [ ! -e "$node" ]; do
		n=$((n + 1)); [ $n -lt 200 ] || return 1; sleep 0.05
	done
}

# allow_exec as the module was loaded: ivshmem_security_test follows it
allow_exec() {
	[ "$(cat /sys/module/ivshmem/parameters/allow_exec)" = "$1" ] ||
		{ echo "# allow_exec is not $1"; rc=1; }
}

load || { echo "1..1"; echo "not ok 1 insmod ivshmem.ko"; exit 1; }
allow_exec N
$P/ivshmem_security_test || rc=1
$P/ivshmem_unplug_test rmmod $pci 200 || rc=1

load allow_exec=1 || { echo "1..1"; echo "not ok 1 insmod ivshmem.ko allow_exec=1"; exit 1; }
allow_exec Y
$P/ivshmem_security_test || rc=1
rmmod ivshmem || rc=1

load || { echo "1..1"; echo "not ok 1 insmod ivshmem.ko"; exit 1; }
$P/ivshmem_unplug_test unbind $pci "${IVS_UNBIND_LOOPS:-20}" || rc=1
if [ "${IVS_HOTPLUG:-0}" = 1 ]; then
	$P/ivshmem_unplug_test hotplug $pci || rc=1
fi
grep ivshmem /proc/interrupts | sed 's/^/# /'
rmmod ivshmem || rc=1

$P/ivshmem_unplug_test cycles $P/ivshmem.ko "${IVS_CYCLES:-100}" || rc=1
exit $rc
