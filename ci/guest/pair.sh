# pair.sh: guest side of the two-guest doorbell checks (busybox sh).
# IVS_SELFTEST (ivs.selftest=, as in plain.sh) describes the
# ivshmem-doorbell device, with this guest's role (role=A or role=B).

P=/payload
insmod $P/ivshmem.ko || { echo "1..1"; echo "not ok 1 insmod ivshmem.ko"; exit 1; }
echo "$IVS_SELFTEST" | tr ';,' '\n ' >/etc/ivshmem-selftest.conf
sed 's/^/# description: /' /etc/ivshmem-selftest.conf
rc=0
$P/ivshmem_peers_test || rc=1
rmmod ivshmem || rc=1
exit $rc
