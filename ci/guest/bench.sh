# bench.sh: guest side of `make bench` (busybox sh). IVS_ROLE A or B,
# IVS_SLOT the doorbell device's PCI slot, IVS_ROUNDS round trips. One TAP
# plan: ivshmem_bench's own KTAP is nested under "# " (as kselftest's
# runner does), but for its BENCH lines, which ci/bench.sh collects.

P=/payload
insmod $P/ivshmem.ko || exit 1
node=
for d in /sys/bus/pci/devices/0000:00:$IVS_SLOT.0/ivshmem/ivshmem*; do
	[ -e "$d" ] && node=/dev/${d##*/}
done
# the role, for ivshmem_bench (selftests/ivshmem/devices.h)
echo "0000:00:$IVS_SLOT.0 kind=doorbell role=$IVS_ROLE" >/etc/ivshmem-selftest.conf
echo "1..2"
if $P/ivshmem_bench "${IVS_ROUNDS:-2000}" 3 >/tmp/bench 2>&1; then
	sed '/^BENCH/!s/^/# /' /tmp/bench
	echo "ok 1 benchmark ran"
else
	sed '/^BENCH/!s/^/# /' /tmp/bench
	echo "not ok 1 benchmark ran"
fi
# libivshmem's waits through the CLI: doorbell, spin then doorbell, busy-poll
# (its meeting area at 1M, clear of ivshmem_bench's at 0)
if LD_LIBRARY_PATH=$P/lib $P/ivshmem bench "$node" --role "$IVS_ROLE" \
	--rounds "${IVS_ROUNDS:-2000}" --offset 1M >/tmp/cli-bench 2>&1; then
	echo "BENCH "
	sed 's/^/BENCH /' /tmp/cli-bench
	echo "ok 2 ivshmem bench ran"
else
	sed 's/^/# /' /tmp/cli-bench
	echo "not ok 2 ivshmem bench ran"
fi
rmmod ivshmem
