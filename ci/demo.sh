#!/bin/bash
# demo.sh: what `make demo` runs. Installs what is missing, builds the
# module and the ivshmem CLI, then
#  1. boots a guest with an ivshmem-plain device backed by a file in
#     /dev/shm: the guest reads the host's greeting from the shared memory
#     and writes its own, which the host then shows from the file;
#  2. starts ivshmem-server, a host peer watching it (ivshmem peer watch,
#     when the CLI has it), and two guests: A passes messages to B through
#     the shared memory, announcing each with a doorbell.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=payload.sh
. "$HERE/payload.sh"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Preparing (packages, guest kernel, module, CLI); the first run takes a few minutes"
"$HERE/deps.sh" | tail -1
"$HERE/prepare.sh" "$IVS_BUILD" >/dev/null
ivs_env
W=$IVS_BUILD/demo
rm -rf "$W"
mkdir -p "$W"
ivs_build_payload "$W" >"$W/build.log" 2>&1 || { cat "$W/build.log"; exit 1; }
make -C "$IVS_REPO/userspace" O="$W/obj" >>"$W/build.log" 2>&1 ||
	{ tail -20 "$W/build.log"; exit 1; }
mkdir -p "$W/payload/lib"
cp "$W/obj/tools/ivshmem" "$W/payload/"
cp -P "$W"/obj/lib/libivshmem.so* "$W/payload/lib/"
LD_LIBRARY_PATH=$W/obj/lib "$IVS_REPO/selftests/ivshmem/vmtest.sh" initramfs "$W/initrd.gz" "$W/payload" >/dev/null
CLI=("$W/obj/tools/ivshmem")
export LD_LIBRARY_PATH=$W/obj/lib

say "Part 1: one guest, one ivshmem-plain device"
shm=$(ivs_shm_file demo 4M)
printf 'Hello from the host (%s)' "$(uname -n)" | dd of="$shm" bs=4096 seek=1 conv=notrunc status=none
echo "host: wrote a greeting at offset 4096 of $shm"
echo "host: booting the guest under QEMU (TCG, about 10 s)"
ivs_guest demo-plain "$W/initrd.gz" demo-plain.sh -- \
	-object "memory-backend-file,id=m,size=4M,share=on,mem-path=$shm" \
	-device ivshmem-plain,memdev=m 2>&1 | sed -n 's/^\[demo-plain\] //p' |
	grep -vE '^\[ *[0-9]+\.[0-9]+\]|^(IVS-|init reached|guest finished|boot:)' || true
echo "host: the first bytes of $shm now read:"
echo "      $(head -c 200 "$shm" | tr -d '\000' | head -1)"

say "Part 2: two guests and a host peer on ivshmem-server, with doorbells"
SOCK=$W/demo.sock
ivs_start_server "$SOCK" "ivs-demo-$IVS_USER-$$" 1
echo "host: ivshmem-server listens on $SOCK (1 vector per peer)"
watch=$W/watch.out watch_pid=""
: >"$watch"
if "${CLI[@]}" peer --help >/dev/null 2>&1; then
	# stopped at the end; its timeout only bounds a demo that hangs
	"${CLI[@]}" peer -S "$SOCK" --timeout 900000 watch \
		> >(tee "$watch" | sed -u 's/^/host peer: /') 2>&1 &
	watch_pid=$!
	ivs_kill_on_exit "$watch_pid"
	# first in, so that it sees both guests come
	ivs_wait_for 0 "the host peer to join ($watch)" grep -q '^joined as peer' "$watch" || true
fi
pair() { # ROLE
	ivs_guest "demo-$1" "$W/initrd.gz" demo-pair.sh --mem 256 --append "ivs.role=$1" -- \
		-chardev "socket,path=$SOCK,id=db" -device ivshmem-doorbell,chardev=db,vectors=1 2>&1 |
		sed -un "s/^\[demo-$1\] //p" | grep --line-buffered '^guest [AB]' || true
}
pair B &
gb=$!
pair A &
ga=$!
ivs_kill_on_exit "$ga"
ivs_kill_on_exit "$gb"
wait "$ga" "$gb" || true
# the server tells the host peer that the guests left: show that too
demo_all_left() {
	[ "$(grep -c '^peer [0-9]* joined$' "$watch")" = "$(grep -c '^peer [0-9]* left$' "$watch")" ]
}
if [ -n "$watch_pid" ]; then
	ivs_wait_for 0 "the host peer to see the guests leave" demo_all_left || true
	kill "$watch_pid" 2>/dev/null || true	# it ends quietly on SIGTERM
	wait "$watch_pid" 2>/dev/null || true
fi
say "Done. Logs: $IVS_LOGDIR/demo-*.log"
