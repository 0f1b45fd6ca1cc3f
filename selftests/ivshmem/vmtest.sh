#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# vmtest.sh: run the ivshmem selftests in a QEMU (TCG) guest booted from a
# busybox initramfs, and judge its serial console.
#
#   vmtest.sh -k BZIMAGE [-m ivshmem.ko] [-p PAYLOAD_DIR] [-s SIZE(16M)]
#             [-t SECONDS(900)] [-o OUTDIR] [-- QEMU ARGS]
#       One guest with an ivshmem-plain device on a /dev/shm file (created and
#       removed); insmods the module, runs the payload's run_kselftest.sh
#       (make install INSTALL_PATH=DIR), else each ivshmem_*_test in it
#       (default payload: this directory); says "vmtest: PASS|FAIL: ...".
#   vmtest.sh initramfs OUT.cpio.gz PAYLOAD_DIR
#       busybox-static, an /init, PAYLOAD_DIR as /payload with the shared
#       libraries of its dynamic ELF files (ldd: LD_LIBRARY_PATH counts).
#   vmtest.sh boot --kernel VMLINUZ --initrd INITRD --log FILE [--name NAME]
#             [--timeout SECONDS(300)] [--script NAME(run.sh)] [--mem MB(512)]
#             [--machine pc|q35] [--monitor SOCKET] [--append "OPTIONS"]
#             [--max-log MiB(64)] [-- QEMU ARGS]
#       One guest; its console to FILE and to stdout as "[NAME] line". Exit 0
#       if it printed "IVS-GUEST-DONE rc=0", 2 if killed (timeout, or past
#       --max-log of console), else 1.
#   vmtest.sh judge LOG [PLANS]
#       Kernel trouble, TAP/KTAP results and plans, the end marker; prints
#       "LOG: P passed, F failed, S skipped", writes "P F S" to LOG.counts.
#   vmtest.sh shm FILE SIZE
#       Creates FILE of SIZE (4M, 1G) if its filesystem has the room.
# Environment: QEMU, BUSYBOX (programs to use), IVS_LOG_ALLOW (an ERE:
# kernel lines the judge lets pass). ci/README.md has the details.
# shellcheck disable=SC2015,SC2016 # A && B || C on tests; literal $ in guest code
set -euo pipefail

ME=${0##*/}
HERE=$(cd "$(dirname "$0")" && pwd)
QEMU=${QEMU:-qemu-system-x86_64}

usage() { sed -n '4,/^# shellcheck/{/^# shellcheck/d; s/^# \{0,1\}//p}' "$0" >&2; exit 2; }
die() { echo "$ME: $*" >&2; exit 1; }
need() { # CMD PACKAGE: one line naming the package if CMD is missing
	command -v "$1" >/dev/null || die "$1 not found: install the Debian package $2 (ci/deps.sh)"
}

# The guests' /init (busybox sh): mounts, kernel options ivs.KEY=VAL as
# IVS_KEY=VAL (upper case, . and - as _), runs ivs.script (default run.sh,
# in /payload) between IVS-GUEST-START and IVS-GUEST-DONE rc=N, powers off.
write_init() {
	cat <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root IVS_PAYLOAD=/payload
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t debugfs debugfs /sys/kernel/debug
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
for d in /tmp /run /dev/shm; do mount -t tmpfs tmpfs $d; done
# devtmpfs has no /dev/stdout (udev would add it); kselftest's runner
# appends each test's output there
ln -s /proc/self/fd/1 /dev/stdout 2>/dev/null
script=run.sh
read -r cmdline </proc/cmdline
for opt in $cmdline; do
	case "$opt" in
	ivs.script=*) script=${opt#*=} ;;
	ivs.*=*) key=$(echo "${opt%%=*}" | cut -c5- | tr 'a-z.-' 'A-Z__')
		export "IVS_$key=${opt#*=}" ;;
	esac
done
case "$script" in /*) ;; *) script=/payload/$script ;; esac
cd /payload 2>/dev/null || cd /
echo "IVS-GUEST-START script=${script#/payload/}"
sh "$script"
echo "IVS-GUEST-DONE rc=$?"
sync
poweroff -f
echo o >/proc/sysrq-trigger
sleep 5
echo "IVS-GUEST: power off failed"
while :; do sleep 60; done
EOF
}

# The default mode's guest script: the module(s), then run_kselftest.sh or
# each test (the judge reads their KTAP; exit 4 is a skip).
write_kselftest() {
	cat <<'EOF'
#!/bin/sh
cd /payload
[ ! -f ivshmem.ko ] || insmod ivshmem.ko || { echo "1..1"; echo "not ok 1 insmod ivshmem.ko"; exit 1; }
[ ! -f ivshmem_ptecheck.ko ] || insmod ivshmem_ptecheck.ko || true
r=$(find . -name run_kselftest.sh -type f | sort | head -n 1)
[ -z "$r" ] || { cd "${r%/*}" && exec sh ./run_kselftest.sh; }
limit=$(sed -n 's/^timeout=//p' settings 2>/dev/null)
rc=0
for t in $(find . -name 'ivshmem_*_test' -type f -perm -100 | sort); do
	echo "# selftests: ivshmem: ${t##*/}"
	timeout "${limit:-300}" "$t" || [ $? = 4 ] || rc=1
done
exit $rc
EOF
}

# ---- initramfs OUT PAYLOAD_DIR ---------------------------------------------
mk_initramfs() {
	[ $# -eq 2 ] || usage
	local out=$1 payload=$2 bb root a f libs
	[ -d "$payload" ] || die "payload $payload is not a directory"
	bb=${BUSYBOX:-$(command -v busybox || true)}
	[ -n "$bb" ] || die "busybox not found: install the Debian package busybox-static (ci/deps.sh)"
	! ldd "$bb" >/dev/null 2>&1 && "$bb" --list-full >/dev/null 2>&1 ||
		die "$bb is not a static busybox: install the Debian package busybox-static (ci/deps.sh)"
	need cpio cpio
	need gzip gzip
	root=$(mktemp -d "${TMPDIR:-/tmp}/ivs-initramfs.XXXXXX")
	# shellcheck disable=SC2064 # expand now: root is local
	trap "rm -rf '$root'" EXIT
	chmod 755 "$root"	# non-root users in the guest must reach /payload
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,etc,mnt,payload}
	cp "$bb" "$root/bin/busybox"
	while read -r a; do	# e.g. "usr/bin/awk"
		[ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"
	done < <("$bb" --list-full | grep -vx 'usr/bin/timeout')
	write_init >"$root/init"
	write_kselftest >"$root/sbin/ivs-kselftest"
	# busybox's timeout lacks --foreground, which kselftest's runner.sh passes
	printf '#!/bin/sh\n[ "$1" != --foreground ] || shift\nexec busybox timeout "$@"\n' \
		>"$root/usr/bin/timeout"
	chmod 755 "$root/init" "$root/sbin/ivs-kselftest" "$root/usr/bin/timeout"
	mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
	echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
	echo "root:x:0:" >"$root/etc/group"
	cp -a "$payload/." "$root/payload/"
	libs=$(find "$root/payload" -type f | while IFS= read -r f; do
		IFS= read -r -n 4 a <"$f" || true
		[ "$a" != $'\x7fELF' ] || ldd "$f" 2>/dev/null || true
	done | sed -n 's/.*=> \(\/[^ ]*\) (0x.*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p' | sort -u)
	for f in $libs; do
		mkdir -p "$root${f%/*}" && cp -L "$f" "$root$f"
	done
	mkdir -p "$(dirname "$out")"
	(cd "$root" && find . -print0 | LC_ALL=C sort -z |
		cpio --quiet --null -o -H newc -R 0:0) | gzip -1 >"$out.tmp"
	mv "$out.tmp" "$out"
	echo "$ME: initramfs $out ($(du -k "$out" | cut -f1) KiB, $(grep -c / <<<"$libs") libraries)"
}

# ---- shm FILE SIZE ----------------------------------------------------------
# A sparse file: tmpfs accepts it even when full, and the guest then dies on
# its first touch of a missing page; so look at the free space first.
mk_shm() {
	[ $# -eq 2 ] || usage
	local file=$1 want free bs dir fs
	want=$(numfmt --from=iec "$2" 2>/dev/null) || die "bad size $2"
	dir=$(dirname "$file")
	read -r free bs fs < <(stat -f -c '%a %S %T' "$dir" 2>/dev/null) ||
		die "no directory $dir for $file"
	free=$((free * bs))
	[ "$want" -le "$free" ] ||
		die "$dir ($fs) has $(numfmt --to=iec "$free") free, $(numfmt --to=iec "$want") wanted for $file"
	rm -f "$file"
	truncate -s "$want" "$file"
}

# ---- boot [options] [-- QEMU ARGS] ------------------------------------------
boot() {
	local name=guest kernel="" initrd="" log="" timeout=300 script=run.sh mem=512
	local machine=pc monitor="" append="" maxlog=64
	while [ $# -gt 0 ]; do
		case "$1" in
		--name) name=$2 ;; --kernel) kernel=$2 ;; --initrd) initrd=$2 ;;
		--log) log=$2 ;; --timeout) timeout=$2 ;; --script) script=$2 ;;
		--mem) mem=$2 ;; --machine) machine=$2 ;; --monitor) monitor=$2 ;;
		--append) append=$2 ;; --max-log) maxlog=$2 ;;
		--) shift; break ;;
		*) echo "$ME boot: unknown option $1" >&2; usage ;;
		esac
		shift 2
	done
	[ -n "$kernel" ] && [ -n "$initrd" ] && [ -n "$log" ] || usage
	mkdir -p "$(dirname "$log")"
	: >"$log"
	nostart() { # one line: in the log for the judge, and on stdout
		echo "IVS-HOST: guest $name: $*" >>"$log"
		echo "[$name] $*"
		exit 1
	}
	command -v "$QEMU" >/dev/null || nostart "$QEMU not found: install the Debian package qemu-system-x86 (ci/deps.sh)"
	[ -f "$kernel" ] || nostart "no kernel file $kernel"
	[ -f "$initrd" ] || nostart "no initrd file $initrd"

	local mon=none
	[ -z "$monitor" ] || { rm -f "$monitor"; mon=unix:$monitor,server=on,wait=off; }
	# no_timer_check: on a loaded host, TCG can be too slow for the kernel's
	# IO-APIC timer check, which then panics ("IO-APIC + timer doesn't work")
	local qemu=("$QEMU" -accel tcg -machine "$machine" -smp 1 -m "$mem"
		-nodefaults -display none -serial stdio -monitor "$mon" -no-reboot
		-kernel "$kernel" -initrd "$initrd"
		-append "console=ttyS0 loglevel=7 printk.time=1 panic=-1 no_timer_check ivs.script=$script $append" "$@")
	echo "[$name] boot: ${qemu[*]}"
	local start=${EPOCHREALTIME/[.,]/} pidf
	elapsed() { local d=$(((${EPOCHREALTIME/[.,]/} - start) / 100000)); echo "$((d / 10)).$((d % 10))"; }
	pidf=$(mktemp "${TMPDIR:-/tmp}/ivs-boot.XXXXXX")	# QEMU's pid, for the reader

	# QEMU's output, line by line, to the log and to stdout; past maxlog
	# MiB, note it, stop QEMU and drop the rest
	reader() {
		local line bytes=0 max=$((maxlog * 1048576)) flooded=0
		while IFS= read -r line || [ -n "$line" ]; do
			[ $flooded = 0 ] || continue
			line=${line%$'\r'}
			bytes=$((bytes + ${#line} + 1))
			if [ $bytes -gt $max ]; then
				flooded=1
				echo "IVS-HOST: guest $name FLOODED: over $maxlog MiB of console output, killed" >&3
				echo "[$name] FLOOD: over $maxlog MiB of console output, killing the guest"
				kill -TERM "$(cat "$pidf")" 2>/dev/null || true
				continue
			fi
			printf '%s\n' "$line" >&3
			printf '[%s] %s\n' "$name" "$line"
			case "$line" in
			IVS-GUEST-START*) echo "[$name] init reached after $(elapsed) s" ;;
			esac
		done 3>>"$log"
	}
	exec 4> >(reader)
	local reader_pid=$! qemu_pid qrc=0 took rc
	# timeout(1) runs QEMU in its own process group: pass on our INT/TERM
	timeout -k 5 "$timeout" "${qemu[@]}" </dev/null >&4 2>&1 &
	qemu_pid=$!
	echo "$qemu_pid" >"$pidf"
	exec 4>&-
	trap 'kill -TERM "$qemu_pid" 2>/dev/null; wait "$qemu_pid"; rm -f "$pidf"; exit 130' INT TERM
	wait "$qemu_pid" || qrc=$?
	trap - INT TERM
	wait "$reader_pid" || true
	rm -f "$pidf"
	took=$(elapsed)

	if grep -q "^IVS-HOST: guest $name FLOODED" "$log"; then
		echo "[$name] guest FAILED: flooded the console, killed after $took s (log: $log)"
		exit 2
	fi
	if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
		echo "IVS-HOST: guest $name HUNG: killed after $timeout s" >>"$log"
		echo "[$name] HANG: killed after $timeout s (log: $log)"
		exit 2
	fi
	if grep -q '^IVS-GUEST-DONE rc=0$' "$log"; then
		echo "[$name] guest finished OK in $took s"
		exit 0
	fi
	# QEMU that would not start printed its reason and nothing else
	if [ "$qrc" -ne 0 ] && ! grep -qE "$KLINE|^IVS-GUEST" "$log"; then
		nostart "QEMU did not start (exit $qrc): $(grep . "$log" | head -n 3 | paste -sd ' ')"
	fi
	rc=$(sed -n 's/^IVS-GUEST-DONE rc=//p' "$log" | tail -n1)
	echo "[$name] guest FAILED in $took s: qemu exit $qrc, script rc=${rc:-none} (log: $log)"
	exit 1
}

# ---- judge LOG [PLANS] --------------------------------------------------------
KLINE='^\[ *[0-9]+\.[0-9]+\] '	# a kernel message: printk timestamp
TROUBLE='BUG:|WARNING:|Oops|KASAN|UBSAN|general protection|Call Trace|Kernel panic'
TROUBLE+='|kernel BUG|unreferenced object|suspected memory leak|refcount_t: '
TROUBLE+='|possible circular locking|possible recursive locking|inconsistent lock state'
TROUBLE+='|sleeping function called from invalid context|list_add corruption'
TROUBLE+='|list_del corruption|blocked for more than|rcu: INFO:|self-detected stall'

# Top-level TAP/KTAP (indented or "# " lines are a subtest's): counts, each
# plan's number of results (a plan may come before or after its results),
# failures and Bail out!; "# SKIP" and "not ok ... # TODO" count as skipped.
TAP_AWK='
function close_plan() {
	if (open && got != want)
		printf "PROBLEM plan 1..%d at line %d got %d results\n", want, pline, got
	open = 0
}
/^1\.\.[0-9]+/ {
	n = substr($1, 4) + 0; plans++
	close_plan()
	if (orphans) {
		if (orphans != n) printf "PROBLEM plan 1..%d at line %d after %d results\n", n, NR, orphans
		orphans = 0
	} else if (n) { open = 1; want = n; got = 0; pline = NR }
	else if (/# *[Ss][Kk][Ii][Pp]/) skip++
	next
}
/^(not )?ok( |$)/ {
	if (open) { if (++got == want) open = 0 } else orphans++
	if (/# *[Ss][Kk][Ii][Pp]/ || (/^not ok/ && /# *[Tt][Oo][Dd][Oo]/)) skip++
	else if (/^not ok/) { fail++; printf "FAILED line %d: %s\n", NR, $0 }
	else pass++
}
/^Bail out!/ { printf "PROBLEM line %d: %s\n", NR, $0 }
END {
	close_plan()
	if (orphans) printf "PROBLEM %d results without a plan\n", orphans
	printf "COUNTS %d %d %d %d\n", pass, fail, skip, plans
}'

judge() {
	[ $# -ge 1 ] && [ $# -le 2 ] || usage
	local log=$1 want=${2:-} fail=0 bad host l P=0 F=0 S=0 NP=0 rc
	[ -f "$log" ] || die "judge: no log $log"
	problem() { echo "check-log: $log: $*"; fail=1; }

	bad=$(tr -d '\r' <"$log" | grep -nE "${KLINE#^}.*($TROUBLE)" || true)
	[ -z "$bad" ] || [ -z "${IVS_LOG_ALLOW:-}" ] || bad=$(grep -vE "$IVS_LOG_ALLOW" <<<"$bad" || true)
	[ -z "$bad" ] || { problem "kernel reported trouble:"; echo "    ${bad//$'\n'/$'\n'    }"; }
	# the runner's own note (a hang, a flood, QEMU that did not start) is
	# the cause: then the missing results and end marker go unsaid
	host=$(grep '^IVS-HOST:' "$log" || true)
	[ -z "$host" ] || problem "$host"

	if grep -q '^IVS-GUEST-START' "$log"; then
		while IFS= read -r l; do
			case "$l" in
			PROBLEM*) [ -n "$host" ] || problem "TAP: ${l#PROBLEM }" ;;
			FAILED*) echo "check-log: $log: ${l#FAILED }"; fail=1 ;;
			COUNTS*) read -r _ P F S NP <<<"$l" ;;
			esac
		done < <(tr -d '\r' <"$log" | awk "$TAP_AWK")
		rc=$(tr -d '\r' <"$log" | sed -n 's/^IVS-GUEST-DONE rc=\([0-9]*\)$/\1/p' | tail -n1)
		if [ -z "$host" ]; then
			if [ -z "$want" ] && [ "$NP" -lt 1 ]; then
				problem "TAP: no plan (1..N) found"
			elif [ -n "$want" ] && [ "$NP" -ne "$want" ]; then
				problem "TAP: $NP plans found, $want expected"
			fi
			if [ -z "$rc" ]; then
				problem "no IVS-GUEST-DONE marker (guest crashed or hung)"
			elif [ "$rc" -ne 0 ] && [ "$F" -eq 0 ]; then
				problem "guest script exited rc=$rc without a failed TAP result"
			fi
		fi
	elif [ -z "$host" ]; then
		problem "the guest never reached /init (IVS-GUEST-START)"
	fi
	echo "$P $F $S" >"$log.counts"
	echo "$log: $P passed, $F failed, $S skipped"
	return $fail
}

# ---- default: the kselftests of PAYLOAD_DIR in one guest ----------------------
kselftest() {
	local kernel="" module="" payload=$HERE size=16M limit=900 out="" o
	while getopts k:m:p:s:t:o:h o; do
		case $o in
		k) kernel=$OPTARG ;; m) module=$OPTARG ;; p) payload=$OPTARG ;;
		s) size=$OPTARG ;; t) limit=$OPTARG ;; o) out=$OPTARG ;; *) usage ;;
		esac
	done
	shift $((OPTIND - 1))
	[ -n "$kernel" ] || usage
	[ -f "$kernel" ] || die "no kernel file $kernel"
	[ -z "$module" ] || [ -f "$module" ] || die "no module file $module"
	[ -d "$payload" ] || die "payload $payload is not a directory"
	find "$payload" \( -name run_kselftest.sh -o -name 'ivshmem_*_test' \) -type f -perm -100 | grep -q . ||
		die "no run_kselftest.sh and no ivshmem_*_test in $payload: build them (make -C selftests/ivshmem) or pass -p DIR"
	need "$QEMU" qemu-system-x86
	out=${out:-$(mktemp -d "${TMPDIR:-/tmp}/ivshmem-vmtest.XXXXXX")}
	mkdir -p "$out"
	local stage shm=/dev/shm/ivshmem-vmtest-${USER:-$(id -un)}-$$ rc=0 P F S
	stage=$(mktemp -d "${TMPDIR:-/tmp}/ivs-stage.XXXXXX")
	# shellcheck disable=SC2064 # expand now
	trap "rm -rf '$stage' '$out/initrd.gz'; rm -f '$shm'" EXIT
	cp -a "$payload/." "$stage/"
	[ -z "$module" ] || cp "$module" "$stage/ivshmem.ko"
	(mk_initramfs "$out/initrd.gz" "$stage")
	mk_shm "$shm" "$size"
	(boot --name vmtest --kernel "$kernel" --initrd "$out/initrd.gz" --log "$out/console.log" \
		--timeout "$limit" --script /sbin/ivs-kselftest -- \
		-object "memory-backend-file,id=ivs-mem,size=$size,share=on,mem-path=$shm" \
		-device ivshmem-plain,id=ivs,memdev=ivs-mem "$@") || rc=1
	judge "$out/console.log" || rc=1
	read -r P F S <"$out/console.log.counts"
	echo "vmtest: $([ $rc = 0 ] && echo PASS || echo FAIL): $P passed, $F failed, $S skipped (console: $out/console.log)"
	return $rc
}

main() {
	case "${1:-}" in
	initramfs) shift; mk_initramfs "$@" ;;
	boot) shift; boot "$@" ;;
	judge) shift; judge "$@" ;;
	shm) shift; mk_shm "$@" ;;
	-*) kselftest "$@" ;;
	*) usage ;;
	esac
}
main "$@"; exit	# one line: an edit of this file cannot reach a running instance
