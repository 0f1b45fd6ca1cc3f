# demo-plain.sh: guest side of `make demo`, part 1 (busybox sh).
P=/payload
export LD_LIBRARY_PATH=$P/lib
insmod $P/ivshmem.ko || exit 1
echo "guest\$ ivshmem list"
$P/ivshmem list
echo "guest\$ ivshmem read 0 4096 64    # what the host left there"
$P/ivshmem read 0 4096 64 | tr -d '\000'
echo
msg="Hello from the guest: Linux $(uname -r), written through /dev/ivshmem0"
echo "guest\$ echo '$msg' | ivshmem write 0 0"
printf '%s\n' "$msg" | $P/ivshmem write 0 0 || exit 1
rmmod ivshmem
