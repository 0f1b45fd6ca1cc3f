# fuzz.sh: guest side of the ABI fuzzer (busybox sh). Loads the module and
# runs ivshmem_fuzz on every ivshmem device for IVS_FUZZ_SECONDS (minimum,
# default 60; at most twice that to reach IVS_FUZZ_CALLS calls, default
# 100000), seeded with IVS_FUZZ_SEED when given.

P=/payload
insmod $P/ivshmem.ko || { echo "1..1"; echo "not ok 1 insmod ivshmem.ko"; exit 1; }
s=${IVS_FUZZ_SECONDS:-60}
rc=0
$P/ivshmem_fuzz ${IVS_FUZZ_SEED:+-s "$IVS_FUZZ_SEED"} -t "$s" -T $((s * 2)) \
	-n "${IVS_FUZZ_CALLS:-100000}" -j "${IVS_FUZZ_THREADS:-2}" \
	-f "${IVS_FUZZ_CHILDREN:-2}" || rc=1
grep ivshmem /proc/interrupts | sed 's/^/# /'
rmmod ivshmem || rc=1
exit $rc
