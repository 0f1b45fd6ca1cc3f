# doorbell.sh: guest side of the one-guest doorbell checks (busybox sh).
#
# IVS_SELFTEST (ivs.selftest=, as in plain.sh) describes the
# ivshmem-doorbell devices; each runs the device tests and the loopback
# doorbell tests. Then kselftest's own runner (ksft/run_kselftest.sh, put
# in the payload by `make install_runner`) runs the security tests: its
# KTAP plan is one result, the program's own lines nested under "# ".

P=/payload
rc=0
insmod $P/ivshmem.ko || { echo "1..1"; echo "not ok 1 insmod ivshmem.ko"; exit 1; }
insmod $P/ivshmem_ptecheck.ko || echo "# no ivshmem_ptecheck: cache checks skip"
echo "$IVS_SELFTEST" | tr ';,' '\n ' >/etc/ivshmem-selftest.conf
sed 's/^/# description: /' /etc/ivshmem-selftest.conf

$P/ivshmem_test || rc=1
$P/ivshmem_doorbell_test || rc=1

# The runner calls "/usr/bin/timeout --foreground", which busybox's timeout
# does not know (every test would fail with exit 1): a wrapper drops it.
rm -f /usr/bin/timeout
# shellcheck disable=SC2016 # the wrapper's own $1 and $@
printf '#!/bin/sh\n[ "$1" = --foreground ] && shift\nexec busybox timeout "$@"\n' \
	>/usr/bin/timeout
chmod 755 /usr/bin/timeout
# The runner appends each program's output to /dev/stdout, which devtmpfs
# does not provide (udev or mdev would): without the link that output goes
# to a new file /dev/stdout. Straight to the console: a redirection of the
# runner to a file would be overwritten by those appends. Its exit status is
# 0 whatever the results: the log check reads its "not ok".
[ -e /dev/stdout ] || ln -s /proc/self/fd/1 /dev/stdout
$P/ksft/run_kselftest.sh -t ivshmem:ivshmem_security_test || rc=1

grep ivshmem /proc/interrupts | sed 's/^/# /'
rmmod ivshmem_ptecheck
rmmod ivshmem || rc=1
exit $rc
