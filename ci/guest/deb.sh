# shellcheck shell=sh disable=SC2086,SC2231,SC2317 # busybox sh; words without blanks
# deb.sh: guest side of ci/deb-check.sh (busybox sh): what the
# Debian packages installed into a bookworm chroot do in a guest.
#
# Payload (all taken from the chroot): ivshmem.ko (built by dkms when
# ivshmem-dkms was installed), ivshmem (from ivshmem-tools),
# lib/libivshmem.so.0 (from libivshmem0) and hello (userspace/examples/hello.c
# built in the chroot with `pkg-config --cflags --libs libivshmem` alone).
#
# IVS_SLOT (ivs.slot=): PCI slot (hex, bus 0) of an ivshmem-plain device of
# IVS_SIZE bytes, where the host left "host-to-deb-guest" at 0x2000; the
# guest leaves "deb-guest-to-host" at 0x3000 and hello's message at 0.
# IVS_VERSION: the version the packages carry. Prints TAP, plan last.

P=/payload
IV=$P/ivshmem
export LD_LIBRARY_PATH=$P/lib
T=/tmp/deb
mkdir -p $T
n=0
rc=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; rc=1; }
check() { d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
# run COMMAND...: stdout in $T/out, stderr in $T/err; shows both on failure
run() {
	"$@" >$T/out 2>$T/err && return 0
	echo "# $*: exit $?"; sed 's/^/#   out: /' $T/out; sed 's/^/#   err: /' $T/err
	return 1
}
has() { grep -q -- "$1" $T/out || { echo "# no '$1' in:"; sed 's/^/#   /' $T/out; return 1; }; }

echo "# kernel $(uname -r)"
if ! insmod $P/ivshmem.ko; then
	nok "insmod the DKMS-built ivshmem.ko"
	echo "1..$n"
	exit 1
fi
ok "insmod the DKMS-built ivshmem.ko"
check "it is the module that is loaded (/sys/module/ivshmem)" [ -d /sys/module/ivshmem ]

PCI=0000:00:$IVS_SLOT.0
node=
for d in /sys/bus/pci/devices/$PCI/ivshmem/ivshmem*; do
	[ -e "$d" ] && node=/dev/${d##*/}
done
check "a device appears for $PCI: ${node:-none}" [ -c "${node:-/none}" ]

check "the packaged ivshmem runs: --version" run $IV --version
check "... and says $IVS_VERSION" has "^ivshmem $IVS_VERSION\$"
check "ivshmem list exits 0" run $IV list
sed 's/^/# list: /' $T/out
check "ivshmem list shows $node at $PCI" grep -qE "^$node +$PCI " $T/out
check "ivshmem info $PCI exits 0" run $IV info $PCI
check "... with the size, $IVS_SIZE bytes" has "^size: *$IVS_SIZE "

printf 'round trip through the packaged CLI\n' >$T/msg
head -c 3000 /dev/urandom >>$T/msg
check "ivshmem write $node 0x1000" sh -c "$IV write $node 0x1000 <$T/msg"
check "ivshmem read gives the same bytes back" \
	sh -c "$IV read $node 0x1000 $(wc -c <$T/msg) | cmp -s - $T/msg"
check "ivshmem read: the host's message at 0x2000" \
	sh -c "[ \"\$($IV read $node 0x2000 17)\" = host-to-deb-guest ]"
check "ivshmem write: a message for the host at 0x3000" \
	sh -c "printf deb-guest-to-host | $IV write $node 0x3000"

check "hello (built with pkg-config in the chroot) exits 0" \
	run $P/hello $PCI "hello from the packaged library"
check "... and read its message back" \
	has "^wrote and read back: hello from the packaged library\$"

check "rmmod ivshmem" sh -c "rmmod ivshmem && [ ! -e /sys/module/ivshmem ]"
echo "1..$n"
exit $rc
