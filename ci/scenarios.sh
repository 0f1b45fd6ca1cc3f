#!/bin/bash
# scenarios.sh: the guest scenarios of `make check`, and the kernel lanes of
# the compatibility matrix built on them. Source it after lib.sh and
# payload.sh, and after ivs_env (the host tools and the 6.1 paths).
#
#   ivs_scenarios W [SUFFIX]   boot the test guests and judge them: plain
#                              devices below and above 4 GiB, doorbell
#                              loopback through ivshmem-server, two guests and
#                              a host peer, two guests and a host process on a
#                              libivshmem channel, two sanitized guests on a
#                              channel the host scribbles over, then what the
#                              guests left in the
#                              backing files. W holds initrd.gz, pattern-tool
#                              and host-peer (ivs_build_payload W). The guests
#                              boot $IVS_KERNEL (default: env.sh's VMLINUZ).
#                              SUFFIX ("" for check.sh's own lane) goes into
#                              guest, log and shm names and result labels.
#                              IVS_CHAN_CHAOS=0 leaves out the channel chaos
#                              check (ivs_lane does, unless it is set).
#   ivs_lane NAME              one kernel of the matrix (see kernels.sh):
#                              headers and image, the module and the test
#                              helper built with W=1 (a warning fails), the
#                              payload, the scenarios booted on that kernel,
#                              with IVS_DKMS=1 the DKMS check (ivs_dkms, from
#                              dkms-check.sh, sourced); ends with "NAME KVER: built / loaded / N
#                              passed, N failed" (kept in IVS_LANES too)
#   ivs_lane_lines             those lines again, one per lane run so far

ivs_step() { echo; echo "=== $*"; }

ivs_scenarios() {
	local W=$1 sfx=${2:-} lbl="" tag kopt=() seed f sz
	local lo1 lo64 lo1g hi2 hi1g low high server SOCK SHM hostpeer
	local -A hseed gseed
	[ -n "$sfx" ] && lbl=" (${sfx#-})"
	tag=${sfx//[^A-Za-z0-9]/}
	[ -n "${IVS_KERNEL:-}" ] && kopt=(--kernel "$IVS_KERNEL")

	ivs_step "guests$lbl"
	# Low: BAR2s in the 32-bit PCI hole, which SeaBIOS's MTRRs mark uncachable.
	lo1=$(ivs_shm_file "lo-1m$sfx" 1M)
	lo64=$(ivs_shm_file "lo-64m$sfx" 64M)
	lo1g=$(ivs_shm_file "lo-1g$sfx" 1G)
	# High: a 4 GiB BAR of pci-testdev pushes every 64-bit BAR above 4 GiB.
	hi2=$(ivs_shm_file "hi-2m$sfx" 2M)
	hi1g=$(ivs_shm_file "hi-1g$sfx" 1G)

	seed=$((RANDOM * 65536 + RANDOM))
	for f in "$lo1" "$lo64" "$lo1g" "$hi2" "$hi1g"; do
		hseed[$f]=$((seed++))
		gseed[$f]=$((seed++))
		"$W/pattern-tool" fill "$f" 0 65536 "${hseed[$f]}"
	done

	plain() { # SLOT ID FILE: QEMU arguments of one device at a fixed slot
		echo "-object memory-backend-file,id=$2-mem,size=$(stat -c %s "$3"),share=on,mem-path=$3" \
		     "-device ivshmem-plain,id=$2,memdev=$2-mem,addr=0x$1"
	}
	# The selftests' description of a guest's devices (ivs.selftest=, see
	# selftests/ivshmem/devices.h): entries separated by ';', words by ','.
	spec() { # SLOT FILE HIGH: one plain device
		echo "0000:00:$1.0,kind=plain,size=$(stat -c %s "$2"),vectors=0,peer=0,high=$3,host_seed=${hseed[$2]},guest_seed=${gseed[$2]}"
	}

	# Plans: ivshmem_test (every device), ivshmem_lifecycle_test, the
	# unload checks of plain.sh.
	# shellcheck disable=SC2046 # plain prints several arguments
	IVS_PLANS=3 ivs_guest "plain-low$sfx" "$W/initrd.gz" plain.sh "${kopt[@]}" --mem 512 \
		--append "ivs.lifecycle=1 ivs.selftest=$(spec 10 "$lo1" 0);$(spec 11 "$lo64" 0);$(spec 12 "$lo1g" 0)" -- \
		$(plain 10 lo1 "$lo1") $(plain 11 lo64 "$lo64") $(plain 12 lo1g "$lo1g") &
	low=$!
	# shellcheck disable=SC2046
	IVS_PLANS=1 ivs_guest "plain-high$sfx" "$W/initrd.gz" plain.sh "${kopt[@]}" --mem 512 \
		--append "ivs.selftest=$(spec 10 "$hi2" 1);$(spec 11 "$hi1g" 1)" -- \
		$(plain 10 hi2 "$hi2") $(plain 11 hi1g "$hi1g") $(ivs_high_bars) &
	high=$!
	ivs_kill_on_exit "$low"
	ivs_kill_on_exit "$high"
	wait "$low" || true
	wait "$high" || true

	ivs_step "doorbell guest: loopback through ivshmem-server$lbl"
	SOCK=$W/ivshmem.sock
	SHM=ivs-test-$IVS_USER-$$-loop$tag
	ivs_start_server "$SOCK" "$SHM" 4
	server=$IVS_SERVER_PID
	# Plans: ivshmem_test, ivshmem_doorbell_test, run_kselftest.sh
	IVS_PLANS=3 ivs_guest "doorbell$sfx" "$W/initrd.gz" doorbell.sh "${kopt[@]}" --mem 512 \
		--append "ivs.selftest=0000:00:10.0,kind=doorbell,size=4194304,vectors=4,high=0" -- \
		-chardev "socket,path=$SOCK,id=db" \
		-device ivshmem-doorbell,chardev=db,vectors=4,addr=0x10 || true
	kill "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
	if [ ! -e "$SOCK" ] && [ ! -e "/dev/shm/$SHM" ]; then
		host_ok "ivshmem-server removed its socket and memory on SIGTERM$lbl"
	else
		host_fail "ivshmem-server removed its socket and memory on SIGTERM$lbl"
	fi

	ivs_step "two guests and a host peer on one ivshmem-server$lbl"
	SOCK=$W/pair.sock
	SHM=ivs-test-$IVS_USER-$$-pair$tag
	ivs_start_server "$SOCK" "$SHM" 4
	server=$IVS_SERVER_PID
	"$W/host-peer" "$SOCK" 900 >"$IVS_LOGDIR/host-peer$sfx.log" 2>&1 &
	hostpeer=$!
	ivs_kill_on_exit "$hostpeer"
	# B first: the host peer expects B to leave before A.
	ivs_guest_pair B A pair pair.sh 4 256 1200 \
		"ivs.selftest=0000:00:10.0,kind=doorbell,vectors=4,role=@ROLE@"
	wait "$hostpeer" || true
	ivs_host_tap "$IVS_LOGDIR/host-peer$sfx.log" "" "$lbl"
	grep -q '^1\.\.' "$IVS_LOGDIR/host-peer$sfx.log" ||
		host_fail "host peer finished (see $IVS_LOGDIR/host-peer$sfx.log)"
	kill "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true

	ivs_step "two guests and a host process on one libivshmem channel region$lbl"
	SOCK=$W/chan.sock
	SHM=ivs-test-$IVS_USER-$$-chan$tag
	ivs_start_server "$SOCK" "$SHM" 2
	server=$IVS_SERVER_PID
	LD_LIBRARY_PATH=$W/userspace/lib "$W/payload/chan-peer" host H "$SOCK" 3 \
		>"$IVS_LOGDIR/chan-host$sfx.log" 2>&1 &
	hostpeer=$!
	ivs_kill_on_exit "$hostpeer"
	ivs_guest_pair A B chan chan-pair.sh 2 256 900 "ivs.role=@ROLE@ ivs.slot=10"
	wait "$hostpeer" || true
	ivs_host_tap "$IVS_LOGDIR/chan-host$sfx.log" "channel: " "$lbl"
	grep -q '^1\.\.' "$IVS_LOGDIR/chan-host$sfx.log" ||
		host_fail "channel: the host participant finished (see $IVS_LOGDIR/chan-host$sfx.log)"
	kill "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true

	# IVS_CHAN_CHAOS=0 leaves this out (the matrix lanes do: it tests the
	# library more than the kernel)
	[ "${IVS_CHAN_CHAOS:-1}" = 0 ] || ivs_chan_chaos

	ivs_step "host: what the guests wrote$lbl"
	for f in "$lo1" "$lo64" "$lo1g" "$hi2" "$hi1g"; do
		sz=$(stat -c %s "$f")
		if "$W/pattern-tool" check "$f" $((sz / 2)) 65536 "${gseed[$f]}"; then
			host_ok "guest's pattern is in ${f##*/}"
		else
			host_fail "guest's pattern is in ${f##*/}"
		fi
		rm -f "$f"	# 2 GiB of /dev/shm per lane: free it now
	done
}

# ivs_guest_pair FIRST SECOND NAME SCRIPT VECTORS MEM TIMEOUT APPEND: two
# guests NAME-FIRST and NAME-SECOND (started in that order) with an
# ivshmem-doorbell on the server at $SOCK, running SCRIPT with kernel
# options APPEND (@ROLE@ becomes the role); waits for both. A part of
# ivs_scenarios, whose locals W, sfx, kopt and SOCK it uses.
ivs_guest_pair() {
	local r pids=()
	for r in "$1" "$2"; do
		IVS_PLANS=1 IVS_TIMEOUT=$7 ivs_guest "$3-$r$sfx" "$W/initrd.gz" "$4" \
			"${kopt[@]}" --mem "$6" --append "${8//@ROLE@/$r}" -- \
			-chardev "socket,path=$SOCK,id=db" \
			-device "ivshmem-doorbell,chardev=db,vectors=$5,addr=0x10" &
		pids+=("$!")
		ivs_kill_on_exit "$!"
	done
	wait "${pids[0]}" || true
	wait "${pids[1]}" || true
}

# ivs_host_tap LOG PREFIX SUFFIX: a host program's TAP results in LOG as
# host results, each named PREFIX + its description + SUFFIX
ivs_host_tap() {
	local line
	while IFS= read -r line; do
		case "$line" in
		"ok "*) host_ok "$2${line#ok*- }$3" ;;
		"not ok "*) host_fail "$2${line#not ok*- }$3" ;;
		esac
	done <"$1"
}

# The hostile-peer check of libivshmem channels in guests (a part of
# ivs_scenarios, whose locals W, sfx, lbl, tag and kopt it uses): two guests
# run chan-peer-san (the library under ASan+UBSan) on one channel region
# while the host's chan-scribble writes garbage into it.
ivs_chan_chaos() {
	local SOCK SHM server hostpeer
	ivs_step "two guests under ASan+UBSan on a channel the host scribbles over$lbl"
	SOCK=$W/chaos.sock
	SHM=ivs-test-$IVS_USER-$$-chaos$tag
	ivs_start_server "$SOCK" "$SHM" 2
	server=$IVS_SERVER_PID
	"$W/chan-scribble" fill "/dev/shm/$SHM" 1048576
	"$W/chan-scribble" run "/dev/shm/$SHM" 1048576 25 "$((RANDOM * 65536 + RANDOM))" 240 \
		>"$IVS_LOGDIR/chan-scribble$sfx.log" 2>&1 &
	hostpeer=$!
	ivs_kill_on_exit "$hostpeer"
	ivs_guest_pair A B chaos chan-chaos.sh 2 512 600 \
		"ivs.role=@ROLE@ ivs.slot=10 ivs.seconds=45"
	wait "$hostpeer" || true
	"$W/chan-scribble" check "/dev/shm/$SHM" 1048576 >>"$IVS_LOGDIR/chan-scribble$sfx.log" 2>&1 || true
	ivs_host_tap "$IVS_LOGDIR/chan-scribble$sfx.log" "chaos: " "$lbl"
	kill "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
}

# Results so far, as a mark for ivs_tally (reads lib.sh's state files).
ivs_tally_mark() {
	echo "$(wc -l <"$IVS_STATE/host") $(wc -l <"$IVS_STATE/guests")"
}

# ivs_tally H G: "P F S" of the results after mark "H G", counted as
# ivs_summary counts them.
ivs_tally() {
	local p f s name log bad gp gf gs
	p=$(tail -n +$(($1 + 1)) "$IVS_STATE/host" | grep -c '^pass$' || true)
	f=$(tail -n +$(($1 + 1)) "$IVS_STATE/host" | grep -c '^fail$' || true)
	s=$(tail -n +$(($1 + 1)) "$IVS_STATE/host" | grep -c '^skip$' || true)
	while read -r name log bad; do
		gp=0 gf=0 gs=0
		[ -f "$log.counts" ] && read -r gp gf gs <"$log.counts"
		if [ "$bad" = 1 ] && [ "$gf" -eq 0 ]; then gf=1; fi
		p=$((p + gp)) f=$((f + gf)) s=$((s + gs))
	done < <(tail -n +$(($2 + 1)) "$IVS_STATE/guests")
	echo "$p $f $s"
}

# The source files a module build needs, copied to DIR (not the build
# outputs lying in the working tree).
ivs_copy_sources() {
	local dst=$1 f
	rm -rf "$dst"
	mkdir -p "$dst"
	(cd "$IVS_REPO" && { git ls-files -co --exclude-standard -- Kbuild Makefile \
		VERSION dkms.conf driver uapi scripts selftests/ivshmem/ptecheck 2>/dev/null ||
		find Kbuild Makefile VERSION dkms.conf driver uapi scripts \
			selftests/ivshmem/ptecheck -type f ! -name '*.o' ! -name '*.ko' \
			! -name '.*' 2>/dev/null; }) |
		while IFS= read -r f; do
			[ -f "$IVS_REPO/$f" ] || continue
			mkdir -p "$dst/$(dirname "$f")"
			cp "$IVS_REPO/$f" "$dst/$f"
		done
}

# ivs_lane_build NAME LW KVER KDIR CHROOT: builds ivshmem.ko and
# ivshmem_ptecheck.ko for NAME with W=1 into LW/modules; logs in LW.
ivs_lane_build() {
	local name=$1 lw=$2 kver=$3 kdir=$4 chroot=$5 src insrc m log ok=0
	if [ -n "$chroot" ]; then
		src=$chroot/ivs/src
		insrc=/ivs/src
	else
		src=$lw/src
		insrc=$src
	fi
	ivs_copy_sources "$src"
	mkdir -p "$lw/modules"
	for m in ivshmem:. ivshmem_ptecheck:selftests/ivshmem/ptecheck; do
		log=$lw/build-${m%%:*}.log
		if ! "$IVS_CI/kernels.sh" exec "$name" \
			make -C "$kdir" M="$insrc/${m#*:}" W=1 modules >"$log" 2>&1; then
			tail -30 "$log"
			host_fail "$name: ${m%%:*}.ko builds against $kver (log: $log)"
			ok=1
			continue
		fi
		if grep -E 'warning:|error:' "$log"; then
			host_fail "$name: ${m%%:*}.ko builds with no W=1 warning against $kver"
			ok=1
		else
			host_ok "$name: ${m%%:*}.ko builds with no W=1 warning against $kver"
		fi
	done
	cp "$src/ivshmem.ko" "$src/selftests/ivshmem/ptecheck/ivshmem_ptecheck.ko" \
		"$lw/modules/" 2>/dev/null || return 1
	return $ok
}

IVS_LANES=()
# serial console, initramfs, /dev, /tmp, debugfs (ptecheck), MSI-X, eventfds,
# AF_UNIX, rmmod, PAT
IVS_LANE_BUILTIN="SERIAL_8250 SERIAL_8250_CONSOLE BLK_DEV_INITRD RD_GZIP
	DEVTMPFS TMPFS DEBUG_FS PCI_MSI EVENTFD UNIX MODULE_UNLOAD X86_PAT"

ivs_lane() {
	local name=$1 env lw mh mg built="NOT built" loaded="NOT loaded" p f s vm
	local kver kdir vmlinuz chroot kconfig line t0=$SECONDS opt missing=""
	lw=$IVS_BUILD/matrix/$name
	read -r mh mg < <(ivs_tally_mark)
	ivs_step "kernel $name: headers, compiler and image"
	if ! env=$("$IVS_CI/kernels.sh" prepare "$name"); then
		host_fail "$name: headers, compiler and image ready"
		read -r p f s < <(ivs_tally "$mh" "$mg")
		line="$name ?: NOT built / NOT loaded / $p passed, $f failed"
		IVS_LANES+=("$line")
		echo "$line"
		return 1
	fi
	# in a subshell: ivs_guest sources env.sh, whose names are the same
	# shellcheck source=/dev/null disable=SC2153
	read -r kver kdir vmlinuz chroot kconfig < <(. "$env" &&
		echo "$KVER $KDIR $VMLINUZ ${CHROOT:--} $KCONFIG")
	[ "$chroot" = - ] && chroot=""
	rm -rf "$lw"
	mkdir -p "$lw"

	# The initramfs has no modules of the kernel's own: what the harness
	# needs must be built in (else copy the .ko into the payload).
	for opt in $IVS_LANE_BUILTIN; do
		grep -qx "CONFIG_$opt=y" "$kconfig" 2>/dev/null || missing+=" $opt"
	done
	if [ -z "$missing" ]; then
		host_ok "$name: $kver has built in what the guests need"
	else
		host_fail "$name: $kver lacks built-in:$missing ($kconfig)"
	fi

	ivs_step "kernel $name: module build ($kver, W=1)"
	if ivs_lane_build "$name" "$lw" "$kver" "$kdir" "$chroot"; then
		built=built
		vm=$(modinfo -F vermagic "$lw/modules/ivshmem.ko" 2>/dev/null || true)
		if [ "${vm%% *}" = "$kver" ]; then
			host_ok "$name: vermagic of ivshmem.ko is $kver, as the guest kernel"
		else
			host_fail "$name: vermagic of ivshmem.ko is '$vm', guest kernel $kver"
		fi
	fi

	if [ "$built" = built ]; then
		ivs_step "kernel $name: payload"
		if ! ivs_build_payload "$lw" "$lw/modules" >"$lw/payload.log" 2>&1; then
			cat "$lw/payload.log"
			host_fail "$name: payload builds"
		else
			IVS_KERNEL=$vmlinuz IVS_CHAN_CHAOS=${IVS_CHAN_CHAOS:-0} \
				ivs_scenarios "$lw" "-$name"
			grep -qE 'ivshmem ivshmem[0-9]+: .* bytes of shared memory' \
				"$IVS_LOGDIR/plain-low-$name.log" 2>/dev/null && loaded=loaded
		fi
	fi
	if [ "${IVS_DKMS:-0}" = 1 ] && declare -F ivs_dkms >/dev/null; then
		ivs_dkms "$name" || true
	fi
	read -r p f s < <(ivs_tally "$mh" "$mg")
	line="$name $kver: $built / $loaded / $p passed, $f failed"
	[ "$s" -gt 0 ] && line+=", $s skipped"
	line+=" ($((SECONDS - t0)) s)"
	IVS_LANES+=("$line")
	echo "$line"
}

ivs_lane_lines() {
	local l
	for l in "${IVS_LANES[@]}"; do echo "$l"; done
}
