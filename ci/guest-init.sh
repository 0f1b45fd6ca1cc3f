#!/bin/sh
# guest-init.sh: /init of the test guests' initramfs (busybox sh).
# Mounts the usual filesystems, runs /payload/$ivs.script (default run.sh)
# with its output on the serial console between the markers
#   IVS-GUEST-START  and  IVS-GUEST-DONE rc=<exit status>
# and powers the guest off. Every kernel option ivs.KEY=VALUE is also
# exported to the script as IVS_KEY=VALUE (KEY upper-cased, - and . become _).

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm

script=run.sh
read -r cmdline </proc/cmdline
# shellcheck disable=SC2086 # split the command line into words
for opt in $cmdline; do
	case "$opt" in
	ivs.script=*)
		script=${opt#ivs.script=} ;;
	ivs.*=*)
		key=${opt%%=*}; key=${key#ivs.}
		key=$(echo "$key" | tr 'a-z.-' 'A-Z__')
		export "IVS_$key=${opt#*=}" ;;
	esac
done

export HOME=/root IVS_PAYLOAD=/payload
mkdir -p /root
cd /payload 2>/dev/null || cd /
echo "IVS-GUEST-START script=$script"
sh "/payload/$script"
rc=$?
echo "IVS-GUEST-DONE rc=$rc"
sync
poweroff -f
echo o > /proc/sysrq-trigger
sleep 5
echo "IVS-GUEST: power off failed" >&2
while :; do sleep 60; done
