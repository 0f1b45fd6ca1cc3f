#!/bin/bash
# runner-test.sh [BUILD]: the VM runner's own test (selftests/ivshmem/vmtest.sh),
# host side, printing TAP. Bad input gives one line naming its cause and a
# quick failure: a missing package, QEMU that will not start, a /dev/shm file
# bigger than the free space, logs the judge must refuse; a guest that never
# prints its plan is killed at its timeout, one that prints forever at the
# log bound. Good input works: one guest (boot mode) gets its kernel options
# as IVS_* variables and its payload, and sees a device hot-added and removed
# through ci/monitor.sh; the default mode (-k) runs a payload's
# ivshmem_*_test files in a guest and says PASS. No driver needed.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] && export IVS_BUILD=$1
# shellcheck source=lib.sh
. "$HERE/lib.sh"
ivs_env
V=$IVS_REPO/selftests/ivshmem/vmtest.sh
W=$IVS_BUILD/runner-test
rm -rf "$W" && mkdir -p "$W"

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
nok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
# one_line DESCRIPTION ERE MAX_SECONDS COMMAND...: COMMAND fails within
# MAX_SECONDS and exactly one line of its output (stdout and stderr) matches ERE
one_line() {
	local d=$1 re=$2 max=$3 out rc=0 t0=$SECONDS
	shift 3
	out=$("$@" 2>&1) || rc=$?
	if [ "$rc" -ne 0 ] && [ $((SECONDS - t0)) -le "$max" ] &&
	   [ "$(grep -cE -- "$re" <<<"$out")" -eq 1 ]; then
		ok "$d"
	else
		nok "$d (exit $rc after $((SECONDS - t0)) s)"
		echo "# ${out//$'\n'/$'\n'# }"
	fi
}
wait_log() { # LOG ERE SECONDS PID: until the line comes, PID ends or time is up
	local end=$((SECONDS + $3))
	until grep -qE "$2" "$1" 2>/dev/null; do
		[ $SECONDS -lt $end ] && kill -0 "$4" 2>/dev/null || return 1
		sleep 0.2
	done
}

# ---- guests, started first: they take the time --------------------------------
mkdir -p "$W/p-good" "$W/p-sleep" "$W/p-flood" "$W/p-kselftest"
MAGIC=ivs-runner-$$-$RANDOM
echo "$MAGIC" >"$W/p-good/magic"
cat >"$W/p-good/run.sh" <<'EOF'
# guest side of the runner's self-test (busybox sh)
n=0 rc=0
t() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; rc=1; fi; }
count() { grep -l 0x1110 /sys/bus/pci/devices/*/device 2>/dev/null | wc -l; }
wait_count() { i=0; while [ "$(count)" -ne "$1" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done; [ "$(count)" -eq "$1" ]; }
bar2() { set -- $(sed -n 3p "$(dirname "$(grep -l 0x1110 /sys/bus/pci/devices/*/device | head -n 1)")/resource"); echo $(($2 - $1 + 1)); }
echo "1..7"
t "ivs.magic reaches the script as IVS_MAGIC" '[ "$IVS_MAGIC" = "$(cat /payload/magic)" ]'
t "ivs.other-key becomes IVS_OTHER_KEY" '[ "$IVS_OTHER_KEY" = yes ]'
t "proc, sysfs, debugfs and tmpfs mounted" 'grep -q " /sys/kernel/debug debugfs" /proc/mounts && grep -q " /dev/shm tmpfs" /proc/mounts'
t "kselftest's /usr/bin/timeout --foreground works" '/usr/bin/timeout --foreground 5 true'
t "one ivshmem device with a 4 MiB BAR2" '[ "$(count)" = 1 ] && [ "$(bar2)" = 4194304 ]'
echo "IVS-RT-HOTPLUG-READY"
t "device_add through the monitor: a second device" 'wait_count 2'
echo "IVS-RT-UNPLUG-READY"
t "device_del through the monitor: one device again" 'wait_count 1'
exit $rc
EOF
echo 'echo "# no plan, no end"; while :; do sleep 60; done' >"$W/p-sleep/run.sh"
echo 'echo 1..1; while :; do echo "flood flood flood flood flood flood flood"; done' >"$W/p-flood/run.sh"
printf '#!/bin/sh\necho "TAP version 13"; echo 1..1; echo "ok 1 the harness"\n' >"$W/p-kselftest/ivshmem_a_test"
printf '#!/bin/sh\necho "1..0 # SKIP nothing here"; exit 4\n' >"$W/p-kselftest/ivshmem_b_test"
chmod +x "$W"/p-kselftest/*
for p in good sleep flood; do
	"$V" initramfs "$W/$p.gz" "$W/p-$p" >/dev/null
done

shm=$(ivs_shm_file rt 4M)
hp=$(ivs_shm_file rt-hp 1M)
mon=$W/good.monitor
# shellcheck disable=SC2046 # ivs_plain_dev prints several arguments
IVS_PLANS=1 ivs_guest rt-good "$W/good.gz" run.sh --monitor "$mon" \
	--append "ivs.magic=$MAGIC ivs.other-key=yes" -- $(ivs_plain_dev rt "$shm") \
	-object "memory-backend-file,id=hp-mem,size=1M,share=on,mem-path=$hp" >"$W/good.out" 2>&1 &
good=$!
timed() { # NAME COMMAND...: runs COMMAND, writes "EXIT SECONDS" to $W/NAME.rc
	local name=$1 t0=$SECONDS rc=0
	shift
	"$@" >"$W/$name.out" 2>&1 || rc=$?
	echo "$rc $((SECONDS - t0))" >"$W/$name.rc"
}
IVS_TIMEOUT=40 timed sleep ivs_guest rt-sleep "$W/sleep.gz" run.sh &
sleeper=$!
timed flood ivs_guest rt-flood "$W/flood.gz" run.sh --max-log 1 &
flood=$!
"$V" -k "$VMLINUZ" -p "$W/p-kselftest" -o "$W/kselftest" >"$W/kselftest.out" 2>&1 &
kst=$!
for p in $good $sleeper $flood $kst; do ivs_kill_on_exit "$p"; done

# ---- bad input, meanwhile ------------------------------------------------------
# a PATH without qemu-system-x86_64, cpio and busybox
mkdir -p "$W/bin"
for f in /usr/bin/* /usr/sbin/*; do
	case "${f##*/}" in qemu-system-x86_64 | cpio | busybox) ;; *) ln -sf "$f" "$W/bin/" ;; esac
done
one_line "no QEMU: one line naming qemu-system-x86" 'install the Debian package qemu-system-x86' 5 \
	env PATH="$W/bin" "$V" boot --kernel "$VMLINUZ" --initrd "$W/good.gz" --log "$W/noqemu.log"
one_line "no busybox: one line naming busybox-static" 'install the Debian package busybox-static' 5 \
	env PATH="$W/bin" "$V" initramfs "$W/x.gz" "$W/p-good"
one_line "no cpio: one line naming cpio" 'install the Debian package cpio' 5 \
	env PATH="$W/bin" BUSYBOX="$(command -v busybox)" "$V" initramfs "$W/x.gz" "$W/p-good"
one_line "a missing kernel file: one line naming it" "no kernel file $W/nokernel" 5 \
	"$V" boot --kernel "$W/nokernel" --initrd "$W/good.gz" --log "$W/nokernel.log"
one_line "the default mode with a missing kernel file: one line" "no kernel file $W/nokernel" 5 \
	"$V" -k "$W/nokernel" -p "$W/p-kselftest"
one_line "QEMU with a bad -device: one line with QEMU's message, at once" \
	"QEMU did not start.*'no-such-dev' is not a valid device model name" 20 \
	"$V" boot --name bad --kernel "$VMLINUZ" --initrd "$W/good.gz" --log "$W/bad.log" -- -device no-such-dev
one_line "the judge of that log: one line" 'IVS-HOST: .*QEMU did not start' 5 "$V" judge "$W/bad.log"
read -r avail bs < <(stat -f -c '%a %S' /dev/shm)
big=$((avail * bs + (1 << 30)))
one_line "a /dev/shm file bigger than the free space: one line naming /dev/shm and the size" \
	"/dev/shm \(tmpfs\) has .* free, .* wanted" 5 ivs_shm_file rt-big "$big"
check "... and no such file is left" [ ! -e "$(ivs_shm_path rt-big)" ]

# ---- the judge on crafted logs ------------------------------------------------
good_log() {
	printf '%s\n' "IVS-GUEST-START script=run.sh" "[    1.000000] ivshmem: loaded" \
		"TAP version 13" "1..3" "ok 1 a" "ok 2 b # SKIP no b" "# a comment" "not ok 3 c # TODO later" \
		"IVS-GUEST-DONE rc=0"
}
judged() { # DESCRIPTION WANT_RC SED_SCRIPT [PLANS]: judge good_log | sed SED_SCRIPT
	local d=$1 want=$2 rc=0
	good_log | sed "$3" >"$W/j.log"
	shift 3
	"$V" judge "$W/j.log" "$@" >"$W/j.out" 2>&1 || rc=$?
	if [ "$rc" -eq "$want" ]; then ok "judge: $d"; else nok "judge: $d"; sed 's/^/# /' "$W/j.out"; fi
}
WARN='s/ivshmem: loaded/WARNING: CPU: 0 PID: 1 at ivshmem_probe+0x1/'
judged "a good log passes" 0 ''
check "judge: ... and writes 1 passed, 0 failed, 2 skipped to LOG.counts" \
	[ "$(cat "$W/j.log.counts")" = "1 0 2" ]
judged "a good log with the expected number of plans passes" 0 '' 1
judged "a log with more plans than expected fails" 1 '' 2
judged "a kernel WARNING fails" 1 "$WARN"
judged "a KASAN report fails" 1 's/ivshmem: loaded/BUG: KASAN: use-after-free in x/'
IVS_LOG_ALLOW='at ivshmem_probe' judged "IVS_LOG_ALLOW exempts a provoked WARNING" 0 "$WARN"
judged "results without a plan fail" 1 '/^1\.\./d'
judged "a plan of 4 with 3 results fails" 1 's/^1\.\.3/1..4/'
judged "a failed result fails" 1 's/^ok 1 a/not ok 1 a/; s/rc=0/rc=1/'
judged "rc=2 without a failed result fails" 1 's/rc=0/rc=2/'
judged "Bail out! fails" 1 's/^ok 2 .*/Bail out! no device/'
judged "no end marker fails" 1 '/IVS-GUEST-DONE/d'
# shellcheck disable=SC2016 # a sed address
judged "a guest that never reached /init fails" 1 '/IVS-GUEST-START/,$d'
judged "indented subtests are not top-level results" 0 \
	's/^\(1\.\.3\)$/\1\n# Subtest\n    1..1\n    not ok 1 nested/'

# ---- the guests' results ---------------------------------------------------------
g=$IVS_LOGDIR/rt-good.log
if wait_log "$g" '^IVS-RT-HOTPLUG-READY' 400 "$good" &&
   "$HERE/monitor.sh" "$mon" "device_add ivshmem-plain,id=hp,memdev=hp-mem" >/dev/null; then
	ok "device_add through monitor.sh"
else
	nok "device_add through monitor.sh"
fi
if wait_log "$g" '^IVS-RT-UNPLUG-READY' 120 "$good" && "$HERE/monitor.sh" "$mon" "device_del hp" >/dev/null; then
	ok "device_del through monitor.sh"
else
	nok "device_del through monitor.sh"
fi
rc=0; wait "$good" || rc=$?
if [ $rc -eq 0 ] && [ "$(cat "$g.counts")" = "7 0 0" ]; then
	ok "a good guest: boot mode, judged 7 passed"
else
	nok "a good guest: boot mode, judged 7 passed (exit $rc)"; sed 's/^/# /' "$W/good.out" | grep -v '\] \[ ' | tail -n 30
fi

rc=0; wait "$kst" || rc=$?
if [ $rc -eq 0 ] && tail -n 1 "$W/kselftest.out" | grep -q '^vmtest: PASS: 1 passed, 0 failed, 1 skipped' &&
   ! grep -q "$(sed -n 's/.*mem-path=\([^ ]*\).*/\1/p' "$W/kselftest.out" | head -n 1)" <(ls /dev/shm/* 2>/dev/null); then
	ok "the default mode runs the payload's ivshmem_*_test, says PASS and removes its /dev/shm file"
else
	nok "the default mode says PASS (exit $rc)"; tail -n 30 "$W/kselftest.out" | sed 's/^/# /'
fi

wait "$sleeper" || true
read -r rc took <"$W/sleep.rc"
if [ "$rc" -ne 0 ] && [ "$(grep -c 'HANG: killed after 40 s' "$W/sleep.out")" -eq 1 ] &&
   grep -q "HUNG" "$W/sleep.out" && [ "$took" -lt 90 ]; then
	ok "a guest that never ends is killed at its 40 s timeout: one HANG line, failed ($took s)"
	grep -q "init reached" "$W/sleep.out" || echo "# (it was killed before it reached /init: a loaded machine)"
else
	nok "a guest that never ends is killed at its timeout (exit $rc, $took s)"; tail -n 5 "$W/sleep.out" | sed 's/^/# /'
fi

wait "$flood" || true
read -r rc took <"$W/flood.rc"
size=$(stat -c %s "$IVS_LOGDIR/rt-flood.log")
if [ "$rc" -ne 0 ] && grep -q 'FLOOD: over 1 MiB' "$W/flood.out" && [ "$size" -lt 1200000 ] &&
   [ "$took" -lt 250 ]; then
	ok "a guest that prints forever is killed past --max-log 1 MiB ($took s, log $size bytes)"
else
	nok "a guest that prints forever is killed past --max-log (exit $rc, $took s, log $size bytes)"
	tail -n 5 "$W/flood.out" | sed 's/^/# /'
fi

echo "1..$n"
[ "$failed" -eq 0 ]
