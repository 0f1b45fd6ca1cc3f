#!/bin/bash
# run-guest.sh: boot one test guest under QEMU (TCG) and wait for it to finish.
# The serial console goes to --log and, line by line, to stdout as "[NAME] line".
# Exit status: 0 if the guest printed "IVS-GUEST-DONE rc=0", 2 on a hang
# (killed after --timeout seconds), 1 otherwise.
#
#   run-guest.sh --kernel VMLINUZ --initrd INITRD --log FILE [--name NAME]
#       [--timeout SECONDS] [--script NAME] [--mem MB] [--machine pc|q35]
#       [--monitor SOCKET] [--append "KERNEL OPTIONS"] [-- QEMU ARGS...]
set -euo pipefail

usage() { sed -n '2,10s/^# \{0,1\}//p' "$0" >&2; exit 2; }

NAME=guest KERNEL="" INITRD="" LOG="" TIMEOUT=300 SCRIPT=run.sh MEM=512
MACHINE=pc MONITOR="" APPEND=""
while [ $# -gt 0 ]; do
	case "$1" in
	--name) NAME=$2; shift 2 ;;
	--kernel) KERNEL=$2; shift 2 ;;
	--initrd) INITRD=$2; shift 2 ;;
	--log) LOG=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--script) SCRIPT=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--machine) MACHINE=$2; shift 2 ;;
	--monitor) MONITOR=$2; shift 2 ;;
	--append) APPEND=$2; shift 2 ;;
	--) shift; break ;;
	*) echo "run-guest: unknown option $1" >&2; usage ;;
	esac
done
if [ -z "$KERNEL" ] || [ -z "$INITRD" ] || [ -z "$LOG" ]; then usage; fi
[ -f "$KERNEL" ] || { echo "run-guest: no kernel $KERNEL" >&2; exit 1; }
[ -f "$INITRD" ] || { echo "run-guest: no initrd $INITRD" >&2; exit 1; }

mon=(-monitor none)
if [ -n "$MONITOR" ]; then
	rm -f "$MONITOR"
	mon=(-monitor "unix:$MONITOR,server=on,wait=off")
fi

cmdline="console=ttyS0 loglevel=7 printk.time=1 panic=-1 ivs.script=$SCRIPT $APPEND"
qemu=(qemu-system-x86_64 -accel tcg -machine "$MACHINE" -smp 1 -m "$MEM"
      -nodefaults -display none -serial stdio "${mon[@]}" -no-reboot
      -kernel "$KERNEL" -initrd "$INITRD" -append "$cmdline" "$@")

mkdir -p "$(dirname "$LOG")"
: >"$LOG"
echo "[$NAME] boot: ${qemu[*]}"
now_us() { echo "${EPOCHREALTIME//[!0-9]/}"; }
start=$(now_us)
elapsed() { local d=$((($(now_us) - start) / 100000)); echo "$((d / 10)).$((d % 10))"; }

# QEMU's output, line by line, to the log and to stdout
reader() {
	local line
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%$'\r'}
		printf '%s\n' "$line" >&3
		printf '[%s] %s\n' "$NAME" "$line"
		case "$line" in
		IVS-GUEST-START*) echo "[$NAME] init reached after $(elapsed) s" ;;
		esac
	done 3>>"$LOG"
}
exec 4> >(reader)
reader_pid=$!
# timeout(1) kills a hung guest; it runs QEMU in its own process group, so
# pass on our INT/TERM (a Ctrl-C) to it, and it passes them on to QEMU
timeout -k 5 "$TIMEOUT" "${qemu[@]}" </dev/null >&4 2>&1 &
qemu_pid=$!
exec 4>&-
trap 'kill -TERM "$qemu_pid" 2>/dev/null; wait "$qemu_pid"; exit 130' INT TERM
qrc=0
wait "$qemu_pid" || qrc=$?
trap - INT TERM
wait "$reader_pid" || true
took=$(elapsed)

if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
	echo "IVS-HOST: guest $NAME HUNG: killed after $TIMEOUT s" >>"$LOG"
	echo "[$NAME] HANG: killed after $TIMEOUT s (log: $LOG)"
	exit 2
fi
if grep -q '^IVS-GUEST-DONE rc=0$' "$LOG"; then
	echo "[$NAME] guest finished OK in $took s"
	exit 0
fi
rc=$(sed -n 's/^IVS-GUEST-DONE rc=//p' "$LOG" | tail -n1)
echo "[$NAME] guest FAILED in $took s: qemu exit $qrc, script rc=${rc:-none} (log: $LOG)"
exit 1
