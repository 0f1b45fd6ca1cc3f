#!/bin/bash
# lib-check.sh: libivshmem, the ivshmem CLI, the udev rule and the install.
#  1. builds userspace/ (library, CLI, lib_test) with no warning, and checks
#     that libivshmem.so exports only ivshmem_* symbols;
#  2. installs it with DESTDIR and PREFIX=/usr, checks the layout, builds
#     userspace/examples/hello.c from the install with nothing but
#     `pkg-config --cflags --libs libivshmem`; uninstalls a second copy;
#  3. boots ONE guest with two ivshmem-plain devices (slots 10 and 11) and
#     an ivshmem-doorbell device (slot 12, 2 vectors) on an ivshmem-server
#     started here, that runs ci/guest/lib.sh: udev rule and group
#     access, the CLI (ring, wait and bench on the doorbell device), hello,
#     then wait_spin_test and lib_test; on the host meanwhile, `ivshmem
#     peer watch` and `ivshmem peer ring` answer the guest;
#  4. checks from the host what the guest printed (list/info --json, with
#     jq) and wrote into the backing files and the server's memory, and
#     what the host peer saw.
# Outputs in $IVS_BUILD/lib-check; for the udev part it needs Debian's udev
# package on the host (its udevadm goes into the guest; installed here when
# missing and running as root).
#
# Standalone: `bash ci/lib-check.sh` runs deps.sh and prepare.sh,
# then all of the above, and ends with ivs_summary ("N passed, N failed[,
# N skipped]"; exit non-zero on failure).
# Sourced by a script that already sourced lib.sh and ran ivs_env (check.sh):
# defines lib_check_main, which adds its host results and its guest to that
# script's lib.sh state, and returns non-zero only if it could not build.
# Everything it defines starts with lib_check_ or lc_.
lc_step() { echo; echo "=== lib-check: $*"; }
# lc_in_order FILE LINE...: the exact LINEs occur in FILE in this order
lc_in_order() {
	local f=$1 last=0 l at
	shift
	for l in "$@"; do
		at=$(grep -nxF -- "$l" "$f" | awk -F: -v a="$last" '$1 > a {print $1; exit}')
		[ -n "$at" ] || return 1
		last=$at
	done
}

lib_check_main() {
	# udev: its udevadm goes into the guest; jq: reads the guest's JSON
	local pkgs=""
	command -v udevadm >/dev/null || pkgs="$pkgs udev"
	command -v jq >/dev/null || pkgs="$pkgs jq"
	if [ -n "$pkgs" ] && [ "$(id -u)" = 0 ]; then
		echo "lib-check: installing$pkgs"
		# shellcheck disable=SC2086 # a list of packages
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $pkgs \
			>/dev/null 2>&1 || true
	fi
	local UDEVADM W=$IVS_BUILD/lib-check REPO=$IVS_REPO HERE=$IVS_CI
	local so others root root2 missing f m fa fb log
	local sock shm server watch answer gid l0
	UDEVADM=$(command -v udevadm || true)
	rm -rf "$W"
	mkdir -p "$W/payload/lib"

	lc_step "module"
	if [ ! -f "$REPO/ivshmem.ko" ] ||
	   [ -n "$(find "$REPO/driver" "$REPO/uapi" -newer "$REPO/ivshmem.ko" -name '*.[ch]' | head -1)" ]; then
		make -C "$KDIR" M="$REPO" modules >"$W/module.log" 2>&1 ||
			{ cat "$W/module.log"; host_fail "module builds"; return 1; }
	fi
	cp "$REPO/ivshmem.ko" "$W/payload/"

	lc_step "userspace: build"
	# WITH_SERVER=0: the server has its own checks; here only the library side
	if make -C "$REPO/userspace" O="$W/obj" WITH_SERVER=0 all tests >"$W/build.log" 2>&1; then
		if grep -E 'warning:|error:' "$W/build.log"; then
			host_fail "userspace builds with no warning (-Wall -Wextra)"
		else
			host_ok "userspace builds with no warning (-Wall -Wextra)"
		fi
	else
		cat "$W/build.log"
		host_fail "userspace builds"
		return 1
	fi
	so=$W/obj/lib/libivshmem.so.0
	if [ "$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')" = libivshmem.so.0 ]; then
		host_ok "libivshmem.so has the soname libivshmem.so.0"
	else
		host_fail "libivshmem.so has the soname libivshmem.so.0"
	fi
	others=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVW]$/ && $3 !~ /^ivshmem_/ {print $3}')
	if [ -z "$others" ] && nm -D --defined-only "$so" | grep -q ' T ivshmem_open@@LIBIVSHMEM_0$'; then
		host_ok "libivshmem.so exports only versioned ivshmem_* symbols"
	else
		host_fail "libivshmem.so exports only versioned ivshmem_* symbols (also: $others)"
	fi
	if nm -g --defined-only "$W/obj/lib/libivshmem.a" | awk 'NF == 3 && $3 !~ /^ivshmem_/' | grep -q .; then
		host_fail "libivshmem.a defines only ivshmem_* global symbols"
	else
		host_ok "libivshmem.a defines only ivshmem_* global symbols"
	fi

	lc_step "userspace: install, pkg-config, uninstall"
	root=$W/root
	# with the server, when userspace/server/ is there (its Makefile installs it)
	if make -C "$REPO/userspace" O="$W/obj" install DESTDIR="$root" PREFIX=/usr \
		>"$W/install.log" 2>&1; then
		host_ok "make install DESTDIR=... PREFIX=/usr"
	else
		cat "$W/install.log"
		host_fail "make install DESTDIR=... PREFIX=/usr"
	fi
	missing=""
	for f in usr/lib/libivshmem.so.0.1.0 usr/lib/libivshmem.so.0 usr/lib/libivshmem.so \
		 usr/lib/libivshmem.a usr/lib/pkgconfig/libivshmem.pc usr/include/libivshmem.h \
		 usr/include/linux/ivshmem.h usr/bin/ivshmem usr/lib/udev/rules.d/70-ivshmem.rules \
		 usr/lib/sysusers.d/ivshmem.conf usr/share/man/man1/ivshmem.1 \
		 usr/share/man/man3/libivshmem.3 usr/share/man/man3/libivshmem-channel.3 \
		 usr/include/ivshmem-channel.h; do
		[ -e "$root/$f" ] || missing="$missing $f"
	done
	if [ -f "$REPO/userspace/server/Makefile" ]; then
		for f in usr/sbin/ivshmem-server usr/share/man/man8/ivshmem-server.8; do
			[ -e "$root/$f" ] || missing="$missing $f"
		done
	fi
	if [ -z "$missing" ]; then
		host_ok "the install has the libraries, headers, .pc, CLI, server, udev rule, man pages"
	else
		host_fail "the install lacks:$missing"
	fi
	if grep -qx 'prefix=/usr' "$root/usr/lib/pkgconfig/libivshmem.pc" &&
	   ! grep -q "$root" "$root/usr/lib/pkgconfig/libivshmem.pc"; then
		host_ok "libivshmem.pc names prefix=/usr, not the DESTDIR"
	else
		host_fail "libivshmem.pc names prefix=/usr, not the DESTDIR"
	fi
	for m in "$root"/usr/share/man/man1/ivshmem.1 "$root"/usr/share/man/man3/libivshmem.3 \
		 "$root"/usr/share/man/man3/libivshmem-channel.3; do
		if ! command -v man >/dev/null; then
			host_skip "man page ${m##*/} renders without warnings (no man)"
		elif LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$m" 2>"$W/man.err" >/dev/null &&
		   ! [ -s "$W/man.err" ]; then
			host_ok "man page ${m##*/} renders without warnings"
		else
			sed 's/^/    /' "$W/man.err"
			host_fail "man page ${m##*/} renders without warnings"
		fi
	done

	lc_pc() { PKG_CONFIG_SYSROOT_DIR=$root PKG_CONFIG_PATH=$root/usr/lib/pkgconfig pkg-config "$@"; }
	# shellcheck disable=SC2046 # pkg-config prints several words
	if gcc -O2 -Wall -Wextra -Werror -o "$W/payload/hello" "$REPO/userspace/examples/hello.c" \
		$(lc_pc --cflags --libs libivshmem) 2>"$W/hello.log"; then
		host_ok "examples/hello.c builds from the install with pkg-config alone"
	else
		cat "$W/hello.log"
		host_fail "examples/hello.c builds from the install with pkg-config alone"
	fi
	# shellcheck disable=SC2046
	if gcc -O2 -Wall -o "$W/hello-static" "$REPO/userspace/examples/hello.c" \
		$(lc_pc --cflags --libs-only-L libivshmem) -Wl,-Bstatic -livshmem -Wl,-Bdynamic \
		-ludev 2>"$W/hello-static.log" &&
	   ! readelf -d "$W/hello-static" | grep -q 'libivshmem'; then
		host_ok "examples/hello.c links against the installed libivshmem.a"
	else
		cat "$W/hello-static.log"
		host_fail "examples/hello.c links against the installed libivshmem.a"
	fi
	# shellcheck disable=SC2046
	if gcc -O2 -Wall -Wextra -Werror -o "$W/payload/wait_spin_test" \
		"$REPO/userspace/tests/wait_spin_test.c" $(lc_pc --cflags --libs libivshmem) \
		2>"$W/wait_spin_test.log"; then
		host_ok "tests/wait_spin_test.c builds from the install with pkg-config alone"
	else
		cat "$W/wait_spin_test.log"
		host_fail "tests/wait_spin_test.c builds from the install with pkg-config alone"
	fi
	cp -P "$root"/usr/lib/libivshmem.so* "$W/payload/lib/"
	cp "$root/usr/bin/ivshmem" "$W/payload/"
	cp "$W/obj/tests/lib_test" "$HERE/guest/lib.sh" "$W/payload/"

	root2=$W/root2
	make -C "$REPO/userspace" O="$W/obj" install DESTDIR="$root2" >/dev/null 2>&1 || true
	if [ -e "$root2/usr/local/lib/libivshmem.so.0" ] &&
	   [ -e "$root2/etc/udev/rules.d/70-ivshmem.rules" ] &&
	   make -C "$REPO/userspace" O="$W/obj" uninstall DESTDIR="$root2" \
		>/dev/null 2>&1 &&
	   [ -z "$(find "$root2" ! -type d)" ]; then
		host_ok "default PREFIX=/usr/local (rule in /etc/udev/rules.d); uninstall removes every file"
	else
		find "$root2" ! -type d | sed 's/^/    left: /'
		host_fail "default PREFIX=/usr/local (rule in /etc/udev/rules.d); uninstall removes every file"
	fi

	if [ -n "$UDEVADM" ]; then
		cp "$UDEVADM" "$W/payload/udevadm"
		cp "$REPO/userspace/udev/70-ivshmem.rules" "$W/payload/"
	else
		host_skip "udev checks in the guest: no udevadm on the host (apt-get install udev)"
	fi
	"$IVS_REPO/selftests/ivshmem/vmtest.sh" initramfs "$W/initrd.gz" "$W/payload"

	lc_step "guest"
	fa=$(ivs_shm_file lib-a 1M)
	fb=$(ivs_shm_file lib-b 4M)
	printf 'host-to-guest message' | dd of="$fb" bs=1 seek=$((0x2000)) conv=notrunc status=none

	lc_dev() { # SLOT ID FILE: one ivshmem-plain at a fixed PCI slot
		echo "-object memory-backend-file,id=$2-mem,size=$(stat -c %s "$3"),share=on,mem-path=$3" \
		     "-device ivshmem-plain,id=$2,memdev=$2-mem,addr=0x$1"
	}
	# the doorbell device's server, and the host's CLI peers on it
	lc_iv() { LD_LIBRARY_PATH=$W/obj/lib "$W/obj/tools/ivshmem" peer -S "$sock" "$@"; }
	sock=$W/doorbell.sock
	shm=ivs-test-$IVS_USER-$$-lib
	server=""
	# up = its ready line (the socket accepts connections), see lib.sh
	if make -C "$REPO/userspace/server" -s >"$W/server-build.log" 2>&1 &&
	   ivs_start_server "$sock" "$shm" 2 -v -l 1M; then
		server=$IVS_SERVER_PID
		host_ok "ivshmem-server for the doorbell device is up"
	else
		cat "$W/server-build.log" "${IVS_SERVER_LOG:-/dev/null}" 2>/dev/null
		host_fail "ivshmem-server for the doorbell device is up"
		return 1
	fi
	# a watcher first (peer 0), so the guest is peer 1 and rings peer 0
	# not through lc_iv: $! must be the CLI itself, for its exit status
	LD_LIBRARY_PATH=$W/obj/lib "$W/obj/tools/ivshmem" peer -S "$sock" --timeout 900000 watch \
		>"$W/watch.out" 2>"$W/watch.err" &
	watch=$!
	ivs_kill_on_exit "$watch"
	ivs_wait_for 0 "'ivshmem peer watch' to join ($W/watch.out)" \
		grep -q '^joined as peer' "$W/watch.out" || true
	if grep -qx 'joined as peer 0 (2 vectors, 1 MiB)' "$W/watch.out"; then
		host_ok "'ivshmem peer watch' joined the server as peer 0"
	else
		host_fail "'ivshmem peer watch' joined the server as peer 0 ($(head -1 "$W/watch.out"))"
	fi
	if printf 'host-peer-to-guest ok' | lc_iv write 0x2000 2>"$W/peer-write.err"; then
		host_ok "'ivshmem peer write' leaves a message for the guest"
	else
		cat "$W/peer-write.err"
		host_fail "'ivshmem peer write' leaves a message for the guest"
	fi
	# the writer's id must be free again before QEMU comes, which gets peer 1.
	# The server (-v) says the writer went: announced ("peer 1 left", and
	# then the watch has seen it leave), or gone before the server saw it
	# read its handshake, never announced (issue 13)
	lc_writer_gone() {
		grep -q '^ivshmem-server: client 1 gone before its handshake completed$' \
			"$IVS_SERVER_LOG" ||
			{ grep -q '^ivshmem-server: peer 1 left ' "$IVS_SERVER_LOG" &&
			  grep -qx 'peer 1 left' "$W/watch.out"; }
	}
	ivs_wait_for 0 "the server and the watch to see 'ivshmem peer write' (peer 1) go" \
		lc_writer_gone || true
	l0=$(wc -l <"$W/watch.out")
	lc_guest_id() { # the first peer to join after line l0 of the watch: QEMU
		tail -n +$((l0 + 1)) "$W/watch.out" | sed -n 's/^peer \([0-9]*\) joined$/\1/p' | head -1
	}
	lc_shm_word() {
		dd if="/dev/shm/$shm" bs=1 skip=$((0x4000)) count=4 status=none 2>/dev/null | tr -d '\0'
	}
	lc_shm_says() { [ "$(lc_shm_word)" = "$1" ]; }
	# the answerer: once the guest writes "wait" at 0x4000 (its 'ivshmem
	# wait' listens by then), ring its vector 0 with 'ivshmem peer ring',
	# ONCE: QEMU's ivshmem device (hw/misc/ivshmem.c, close_peer_eventfds)
	# frees a departed peer's eventfd array for good, so a peer id that
	# comes back (the server hands out the lowest free id) makes every
	# QEMU on the server write to freed memory, and abort ("double free")
	# when it leaves again. One transient peer while QEMU runs is safe.
	(
		# as long as the guest may take to get there: its whole timeout
		ivs_wait_for "$((${IVS_TIMEOUT:-300} * 2))" "the guest to write 'wait' at 0x4000" \
			lc_shm_says wait || exit 1
		g=$(lc_guest_id)
		lc_iv ring "$g" 0 || { echo "ring '$g' 0 failed"; exit 1; }
		ivs_wait_for 0 "the guest (peer '$g') to write 'done' at 0x4000" \
			lc_shm_says 'done' || exit 1
		echo "rang peer $g once"
	) >"$W/answer.log" 2>&1 &
	answer=$!
	ivs_kill_on_exit "$answer"

	# shellcheck disable=SC2046 # dev prints several arguments
	IVS_PLANS=3 ivs_guest lib-check "$W/initrd.gz" lib.sh --mem 512 \
		--append "ivs.devs=10:$(stat -c %s "$fa"),11:$(stat -c %s "$fb") ivs.doorbell=12:1048576 ivs.hostpeer=0" -- \
		$(lc_dev 10 liba "$fa") $(lc_dev 11 libb "$fb") \
		-chardev "socket,path=$sock,id=libdb" \
		-device ivshmem-doorbell,id=libc,chardev=libdb,vectors=2,addr=0x12 || true

	lc_step "host: what the host peer saw"
	# once the guest wrote 'done' the answerer ends by itself; else it waits
	# for what will not come now that the guest is gone
	if lc_shm_says 'done'; then
		ivs_wait_for 0 "the answerer to end" eval "! kill -0 $answer" || true
	fi
	kill "$answer" 2>/dev/null
	if wait "$answer"; then
		host_ok "'ivshmem peer ring' woke the guest's 'ivshmem wait' ($(cat "$W/answer.log"))"
	else
		sed 's/^/    /' "$W/answer.log"
		host_fail "'ivshmem peer ring' woke the guest's 'ivshmem wait'"
	fi
	gid=$(lc_guest_id)
	# the server tells the watch that QEMU has gone
	[ -z "$gid" ] || ivs_wait_for 0 "the watch to see the guest (peer $gid) leave" \
		grep -qx "peer $gid left" "$W/watch.out" || true
	tail -n +$((l0 + 1)) "$W/watch.out" >"$W/watch.guest"
	if [ -n "$gid" ] &&
	   lc_in_order "$W/watch.guest" "peer $gid joined" "vector 1 fired" "peer $gid left"; then
		host_ok "'ivshmem peer watch' saw the guest join (peer $gid), ring it on vector 1, leave"
	else
		sed 's/^/    /' "$W/watch.out" "$W/watch.err"
		host_fail "'ivshmem peer watch' saw the guest join, ring it on vector 1, leave"
	fi
	if [ "$(lc_iv read 0x3000 21 2>&1)" = "guest-to-host-peer ok" ]; then
		host_ok "'ivshmem peer read' finds the guest's message in the server's memory"
	else
		host_fail "'ivshmem peer read' finds the guest's message ($(lc_iv read 0x3000 21 2>&1))"
	fi
	if [ "$(lc_iv list 2>&1)" = 0 ]; then
		host_ok "'ivshmem peer list' shows only the watch once the guest is gone"
	else
		host_fail "'ivshmem peer list' shows only the watch ($(lc_iv list 2>&1 | tr '\n' ' '))"
	fi
	kill "$watch" 2>/dev/null
	wait "$watch"
	m=$?
	kill "$server" 2>/dev/null
	wait "$server" 2>/dev/null || true
	if [ "$m" = 0 ] && [ ! -e "$sock" ] && [ ! -e "/dev/shm/$shm" ]; then
		host_ok "the watch ends with 0 on SIGTERM; the server removed its socket and memory"
	else
		host_fail "the watch ends with 0 on SIGTERM (rc $m); the server removed its socket and memory"
	fi

	lc_step "host: what the guest printed and wrote"
	log=$IVS_LOGDIR/lib-check.log
	lc_json() { tr -d '\r' <"$log" | sed -n "s/^IVS-JSON $1 //p" | tail -n1; }
	if ! command -v jq >/dev/null; then
		host_skip "guest's 'ivshmem list --json' and 'info --json' parse (no jq)"
	elif lc_json list | jq -e 'length == 3 and
		([.[].pci_address] | sort) == ["0000:00:10.0", "0000:00:11.0", "0000:00:12.0"] and
		all(.[]; (.node | startswith("/dev/ivshmem")) and .revision == 1 and
			(.index | type) == "number") and
		([.[] | select(.vectors == 0 and .peer_id == 0) | .size] | sort) ==
			[1048576, 4194304] and
		([.[] | select(.pci_address == "0000:00:12.0")][0] |
			.vectors == 2 and .size == 1048576 and .peer_id > 0)' >/dev/null 2>&1; then
		host_ok "guest's 'ivshmem list --json' parses and is right (jq)"
	else
		echo "    got: $(lc_json list)"
		host_fail "guest's 'ivshmem list --json' parses and is right (jq)"
	fi
	if ! command -v jq >/dev/null; then
		:
	elif lc_json info | jq -e '.pci_address == "0000:00:11.0" and .size == 4194304 and
		.doorbell == false and (.regs_mmap | type) == "boolean" and
		.interrupt_counts == []' >/dev/null 2>&1; then
		host_ok "guest's 'ivshmem info --json' parses and is right (jq)"
	else
		echo "    got: $(lc_json info)"
		host_fail "guest's 'ivshmem info --json' parses and is right (jq)"
	fi
	if ! command -v jq >/dev/null; then
		:
	elif lc_json dbinfo | jq -e '.pci_address == "0000:00:12.0" and .doorbell == true and
		.vectors == 2 and .peer_id > 0 and (.interrupt_counts | length) == 2 and
		all(.interrupt_counts[]; . > 0)' >/dev/null 2>&1; then
		host_ok "guest's 'ivshmem info --json' of the doorbell device is right (jq)"
	else
		echo "    got: $(lc_json dbinfo)"
		host_fail "guest's 'ivshmem info --json' of the doorbell device is right (jq)"
	fi
	if [ "$(dd if="$fb" bs=1 skip=$((0x3000)) count=21 status=none)" = "guest-to-host via CLI" ]; then
		host_ok "the guest's 'ivshmem write' reached the host's backing file"
	else
		host_fail "the guest's 'ivshmem write' reached the host's backing file"
	fi
	if [ "$(dd if="$fa" bs=1 count=32 status=none)" = "hello from the installed example" ]; then
		host_ok "the example's message reached the host's backing file"
	else
		host_fail "the example's message reached the host's backing file"
	fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	# shellcheck source=lib.sh disable=SC1091
	. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
	lc_step "dependencies"
	"$IVS_CI/deps.sh"
	"$IVS_CI/prepare.sh" "$IVS_BUILD" >/dev/null
	ivs_env
	lib_check_main || true
	lc_step "summary"
	ivs_summary
fi
