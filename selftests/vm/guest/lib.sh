# shellcheck shell=sh disable=SC2086,SC2317 # busybox sh; words without blanks
# lib.sh: guest side of selftests/vm/lib-check.sh (busybox sh): the udev
# rule, access through the group, the ivshmem CLI, the installed example,
# then lib_test (libivshmem through its public API).
#
# IVS_DEVS (from ivs.devs=) lists the ivshmem-plain devices, comma
# separated, each SLOT:SIZE (SLOT: PCI slot in hex, on bus 0). The first
# holds the CLI tests; in the second the host left "host-to-guest message"
# at 0x2000, and the guest leaves "guest-to-host via CLI" at 0x3000.
# lib_test removes the second device and brings it back at its end.
#
# Payload: ivshmem.ko, ivshmem (CLI), lib/libivshmem.so.0, lib_test, hello,
# and for udev: udevadm, 70-ivshmem.rules. Prints TAP with a trailing plan,
# then lib_test's own.

P=/payload
IV=$P/ivshmem
export LD_LIBRARY_PATH=$P/lib
T=/tmp/lib-check
mkdir -p $T
n=0
rc=0

ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); echo "not ok $n - $*"; rc=1; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# check DESCRIPTION COMMAND...: ok if the command succeeds
check() { d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
# run WANT_RC COMMAND...: runs with stdout in $T/out, stderr in $T/err;
# true if the exit status is WANT_RC
run() {
	want=$1; shift
	"$@" >$T/out 2>$T/err
	got=$?
	[ "$got" = "$want" ] && return 0
	echo "# $*: exit $got, want $want; stderr:"; sed 's/^/#   /' $T/err
	return 1
}
has() { grep -q -- "$1" "${2:-$T/out}" || { echo "# no '$1' in ${2:-$T/out}:"; sed 's/^/#   /' "${2:-$T/out}"; return 1; }; }
errhas() { has "$1" $T/err; }

node_of() { # SLOT -> /dev/ivshmemN
	for d in /sys/bus/pci/devices/0000:00:$1.0/ivshmem/ivshmem*; do
		[ -e "$d" ] && echo "/dev/${d##*/}" && return 0
	done
	return 1
}

if ! insmod $P/ivshmem.ko; then
	echo "1..1"; echo "not ok 1 - insmod ivshmem.ko"; exit 1
fi

slots=""; sizes=""
IFS=,
for spec in $IVS_DEVS; do
	slots="$slots ${spec%%:*}"; sizes="$sizes ${spec#*:}"
done
unset IFS
set -- $slots; SA=$1; SB=$2
set -- $sizes; ZA=$1; ZB=$2
A=$(node_of "$SA"); B=$(node_of "$SB")
PA=0000:00:$SA.0; PB=0000:00:$SB.0
echo "# devices: $A at $PA ($ZA bytes), $B at $PB ($ZB bytes)"
check "both devices probed" [ -c "$A" -a -c "$B" ]

# ---------------------------------------------------------------- udev
# the initramfs root may come as mode 0700: other users need to traverse it
chmod 755 /
# a group, a member and an outsider; the rule, the daemon, a trigger
cat >>/etc/passwd <<-EOF
	ivuser:x:1000:1000:in group ivshmem:/tmp:/bin/sh
	outsider:x:1001:1001:not in group ivshmem:/tmp:/bin/sh
EOF
cat >>/etc/group <<-EOF
	ivuser:x:1000:
	outsider:x:1001:
	ivshmem:x:990:ivuser
EOF
printf 'passwd: files\ngroup: files\n' >/etc/nsswitch.conf

if [ -x $P/udevadm ]; then
	mkdir -p /etc/udev/rules.d /run/udev /lib/systemd
	cp $P/70-ivshmem.rules /etc/udev/rules.d/
	ln -sf $P/udevadm /lib/systemd/systemd-udevd
	/lib/systemd/systemd-udevd --daemon 2>$T/udevd.err
	$P/udevadm trigger --subsystem-match=ivshmem --action=add
	$P/udevadm settle --timeout=60
	la=/dev/ivshmem/by-path/pci-$PA; lb=/dev/ivshmem/by-path/pci-$PB
	check "udev: $A is mode 660, group ivshmem" \
		[ "$(stat -c '%a %G' "$A")" = "660 ivshmem" ]
	check "udev: $B is mode 660, group ivshmem" \
		[ "$(stat -c '%a %G' "$B")" = "660 ivshmem" ]
	check "udev: $la points to $A" [ "$(readlink -f "$la")" = "$A" ]
	check "udev: $lb points to $B" [ "$(readlink -f "$lb")" = "$B" ]
	$P/udevadm info --query=property --name="$A" >$T/props 2>&1
	check "udev: the uaccess tag is set" grep -q '^TAGS=.*:uaccess:' $T/props
	check "udev: udevadm test runs the rule" \
		sh -c "$P/udevadm test --action=add /sys/class/ivshmem/${A#/dev/} >$T/utest 2>&1"
	grep -iE 'invalid|error|unknown' $T/utest | sed 's/^/# udevadm test: /'

	check "udev: an outsider cannot open (exit 1)" \
		run 1 su outsider -c "LD_LIBRARY_PATH=$P/lib $IV info $A"
	check "udev: ... and is told: Permission denied" errhas "$A: open: Permission denied"
	check "udev: a member of the group can open (info)" \
		run 0 su ivuser -c "LD_LIBRARY_PATH=$P/lib $IV info $PA"
	check "udev: a member can map: write as ivuser" \
		run 0 su ivuser -c "echo member-was-here | LD_LIBRARY_PATH=$P/lib $IV write $la 0x5000"
	check "udev: a member can map: read back as ivuser" \
		run 0 su ivuser -c "LD_LIBRARY_PATH=$P/lib $IV read $la 0x5000 16"
	check "udev: ... the same bytes" has "member-was-here"
	check "udev: a member rings a plain device: Operation not supported, exit 1" \
		run 1 su ivuser -c "LD_LIBRARY_PATH=$P/lib $IV ring $A 0"
else
	for t in mode-A mode-B link-A link-B uaccess test outsider outsider-msg \
		 member-info member-write member-read member-bytes member-ring; do
		skip "udev: $t" "no udevadm in the payload"
	done
fi

# ---------------------------------------------------------------- CLI
check "--help exits 0" run 0 $IV --help
check "--help prints the usage" has "usage: ivshmem"
check "--version exits 0" run 0 $IV --version
check "dump --help exits 0 with the command's usage" run 0 $IV dump --help
check "... which names it" has "usage: ivshmem dump"
check "help wait" run 0 $IV help wait

check "list exits 0" run 0 $IV list
check "list shows $A at $PA, 1 MiB" grep -qE "^$A +$PA +1 MiB +0 +0$" $T/out
check "list shows $B at $PB, 4 MiB" grep -qE "^$B +$PB +4 MiB +0 +0$" $T/out
check "list has a header and two devices" [ "$(wc -l <$T/out)" = 3 ]
check "list --json exits 0" run 0 $IV list --json
echo "IVS-JSON list $(tr -d '\n' <$T/out)"
check "list --json names both PCI addresses" \
	grep -q "\"pci_address\": \"$PB\"" $T/out
check "info by PCI address exits 0" run 0 $IV info $PA
cp $T/out $T/info-pci
check "info: size" has "^size: *$ZA (1 MiB)$"
check "info: node" has "^device: *$A$"
check "info: no doorbell" has "^doorbell: *no$"
check "info: peer id 0, 0 vectors" sh -c "grep -q '^peer id: *0$' $T/out && grep -q '^vectors: *0$' $T/out"
check "info by index is the same" sh -c "$IV info ${A#/dev/ivshmem} | cmp -s - $T/info-pci"
check "info by node is the same" sh -c "$IV info $A | cmp -s - $T/info-pci"
check "info by short PCI address is the same" sh -c "$IV info 00:$SA.0 | cmp -s - $T/info-pci"
check "info --json exits 0" run 0 $IV info $B --json
echo "IVS-JSON info $(tr -d '\n' <$T/out)"

printf 'hello, ivshmem\n' >$T/msg
check "write exits 0" sh -c "$IV write $A 0x1000 <$T/msg"
check "read gives the same bytes back" sh -c "$IV read $A 0x1000 15 | cmp -s - $T/msg"
check "numbers take K suffixes: read $A 4K" sh -c "$IV read $A 4K 15 | cmp -s - $T/msg"
head -c 5000 /dev/urandom >$T/rand
check "5000 random bytes across a page boundary: write" sh -c "$IV write $A 0x1f00 <$T/rand"
check "... read back identical" sh -c "$IV read $A 0x1f00 5000 | cmp -s - $T/rand"
check "dump exits 0" run 0 $IV dump $A 0x1000 16
check "dump prints device offsets, hexdump -C style" \
	has "^00001000  68 65 6c 6c 6f 2c 20 69  76 73 68 6d 65 6d 0a 00  |hello, ivshmem..|$"
check "dump ends with the end offset" has "^00001010$"
for len in 0x1100 0x1007 0x3003; do
	check "dump $A 0 $len is what hexdump -C prints" \
		sh -c "$IV dump $A 0 $len >$T/d1 && $IV read $A 0 $len | hexdump -C >$T/d2 && cmp -s $T/d1 $T/d2"
done
check "dump --no-squeeze prints every line" \
	sh -c "[ \$($IV dump $A 0 0x1000 -v | wc -l) = 257 ]"
check "read from the host: the host's message in $B" \
	sh -c "[ \"\$($IV read $B 0x2000 21)\" = 'host-to-guest message' ]"
check "write for the host: a message in $B at 0x3000" \
	sh -c "printf 'guest-to-host via CLI' | $IV write $B 0x3000"

check "read beyond the end: exit 1" run 1 $IV read $A 1M 1
check "... saying why" errhas "beyond the memory"
check "write past the end: exit 1" sh -c "head -c 16 /dev/zero | $IV write $A 0xffff8 2>$T/err; [ \$? = 1 ]"
check "... No space left on device" errhas "write: No space left on device"
check "ring on a plain device: exit 1" run 1 $IV ring $A 0 0
check "... ivshmem: DEV: ring: Operation not supported" errhas "^ivshmem: $A: ring: Operation not supported"
check "ring --mmio on a plain device: exit 1" run 1 $IV ring --mmio $A 0
check "wait --timeout on a plain device: exit 1" run 1 $IV wait $A --timeout 100
check "... ivshmem: DEV: wait: Operation not supported" errhas "^ivshmem: $A: wait: Operation not supported"
check "info of a missing device: exit 1" run 1 $IV info 99
check "... No such file or directory" errhas "^ivshmem: 99: open: No such file or directory"
check "info /dev/null: exit 1, not an ivshmem device" run 1 $IV info /dev/null
check "... No such device" errhas "^ivshmem: /dev/null: open: No such device"
check "bench is a stub: exit 1, not yet" run 1 $IV bench
check "... says not yet" errhas "not yet"

check "usage: no command: exit 2" run 2 $IV
check "usage: unknown command: exit 2" run 2 $IV frob
check "usage: read without LEN: exit 2" run 2 $IV read $A 0
check "... says what is missing" errhas "missing LEN"
check "usage: a bad number: exit 2" run 2 $IV read $A 12x 1
check "usage: a peer out of range: exit 2" run 2 $IV ring $A 65536
check "usage: a vector above 63 for wait: exit 2" run 2 $IV wait $A 64
check "usage: an unknown option: exit 2" run 2 $IV list --bogus
check "usage: info without DEV: exit 2" run 2 $IV info
check "usage: too many arguments: exit 2" run 2 $IV read $A 0 1 2

# ---------------------------------------------------------------- example
if [ -x $P/hello ]; then
	check "hello (built with pkg-config from the install) exits 0" \
		run 0 $P/hello $PA "hello from the installed example"
	check "hello lists the devices" has "^$A $PA $ZA bytes$"
	check "hello wrote and read back its message" \
		has "^wrote and read back: hello from the installed example$"
	check "... which the CLI sees" \
		sh -c "[ \"\$($IV read $A 0 32)\" = 'hello from the installed example' ]"
else
	skip "hello" "not in the payload"
fi

echo "1..$n"

# ---------------------------------------------------------------- lib_test
IVSHMEM_EXPECT="$PA,$ZA,0,0;$PB,$ZB,0,0" IVSHMEM_REMOVE=$PB $P/lib_test || rc=1
exit $rc
