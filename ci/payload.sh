#!/bin/bash
# payload.sh: shared by check.sh, bench.sh and demo.sh (source it after
# lib.sh and ivs_env; ivs_start_server is in lib.sh). ivs_build_payload DIR [MODDIR] builds into DIR: the
# module (if not built yet), the test helper module, the selftests and host
# tools, a payload/ for the guests and initrd.gz; it returns non-zero on a
# failure. With MODDIR, both .ko files come from there (built for another
# kernel: see scenarios.sh) and nothing is built against KDIR.

ivs_build_payload() {
	local w=$1 moddir=${2:-}
	mkdir -p "$w/payload"
	if [ -n "$moddir" ]; then
		cp "$moddir/ivshmem.ko" "$moddir/ivshmem_ptecheck.ko" "$w/payload/" ||
			return 1
	else
		[ -f "$IVS_REPO/ivshmem.ko" ] ||
			make -C "$KDIR" M="$IVS_REPO" modules >"$w/module.log" 2>&1 ||
			{ cat "$w/module.log"; return 1; }
		make -C "$KDIR" M="$IVS_REPO/selftests/ivshmem/ptecheck" modules \
			>"$w/ptecheck.log" 2>&1 || { cat "$w/ptecheck.log"; return 1; }
		cp "$IVS_REPO/ivshmem.ko" \
			"$IVS_REPO/selftests/ivshmem/ptecheck/ivshmem_ptecheck.ko" "$w/payload/"
	fi
	# the selftests, on the kernel's lib.mk, and kselftest's runner
	# (payload/ksft/run_kselftest.sh), from prepare.sh's extract
	make -C "$IVS_REPO/selftests/ivshmem" -s KSELFTEST_DIR="$KSELFTEST_DIR" \
		OUTPUT="$w/payload" INSTALL_PATH="$w/payload/ksft" all install_runner || return 1
	make -C "$IVS_REPO/userspace/server" -s || return 1
	gcc -O2 -Wall -Wextra -I"$IVS_REPO/selftests/ivshmem" \
		-o "$w/pattern-tool" "$IVS_CI/pattern-tool.c" || return 1
	gcc -O2 -Wall -Wextra -I"$IVS_REPO/userspace/lib" -I"$IVS_REPO/selftests/ivshmem" \
		-o "$w/host-peer" "$IVS_CI/host-peer.c" \
		"$IVS_REPO/userspace/lib/peer.c" || return 1
	# the ivshmem CLI and libivshmem (guest: LD_LIBRARY_PATH=/payload/lib)
	make -C "$IVS_REPO/userspace" -s O="$w/userspace" WITH_SERVER=0 lib tools || return 1
	mkdir -p "$w/payload/lib"
	cp -P "$w/userspace/lib"/libivshmem.so* "$w/payload/lib/"
	cp "$w/userspace/tools/ivshmem" "$w/payload/"
	# a channel participant: in the guests over the device, on the host over the server
	gcc -O2 -Wall -Wextra -I"$IVS_REPO/uapi" -I"$IVS_REPO/userspace/lib" \
		-o "$w/payload/chan-peer" "$IVS_REPO/userspace/tests/chan-peer.c" \
		-L"$w/userspace/lib" -livshmem || return 1
	# the same with the library's sources under ASan+UBSan, for the hostile-peer check
	gcc -O1 -g -Wall -Wextra -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		-I"$IVS_REPO/uapi" -I"$IVS_REPO/userspace/lib" -D_FILE_OFFSET_BITS=64 \
		-o "$w/payload/chan-peer-san" "$IVS_REPO/userspace/tests/chan-peer.c" \
		"$IVS_REPO"/userspace/lib/{channel,peer,dev,event,enum}.c -ludev || return 1
	gcc -O2 -Wall -Wextra -o "$w/chan-scribble" "$IVS_REPO/userspace/tests/chan-scribble.c" ||
		return 1
	cp "$IVS_CI"/guest/*.sh "$w/payload/"
	LD_LIBRARY_PATH=$w/userspace/lib "$IVS_REPO/selftests/ivshmem/vmtest.sh" initramfs "$w/initrd.gz" "$w/payload"
}
