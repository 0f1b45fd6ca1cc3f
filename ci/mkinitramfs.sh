#!/bin/bash
# mkinitramfs.sh OUT PAYLOAD_DIR: build a gzip'd newc initramfs for the test
# guests: static busybox (and its applet links), guest-init.sh as /init, and
# PAYLOAD_DIR as /payload. Dynamically linked ELF files in the payload get
# their shared libraries and loader (as ldd lists them) at the same paths.
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 OUT.cpio.gz PAYLOAD_DIR" >&2; exit 2; }
OUT=$1
PAYLOAD=$2
HERE=$(cd "$(dirname "$0")" && pwd)
[ -d "$PAYLOAD" ] || { echo "mkinitramfs: $PAYLOAD is not a directory" >&2; exit 1; }
BUSYBOX=/bin/busybox
if ! "$BUSYBOX" --list-full >/dev/null 2>&1; then
	echo "mkinitramfs: need busybox-static (run deps.sh)" >&2; exit 1
fi

mkdir -p "$(dirname "$OUT")"
ROOT=$(mktemp -d "${TMPDIR:-/tmp}/ivs-initramfs.XXXXXX")
chmod 755 "$ROOT"	# the guest's /: non-root users must reach /payload
trap 'rm -rf "$ROOT"' EXIT

mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,etc,mnt}
cp "$BUSYBOX" "$ROOT/bin/busybox"
while read -r applet; do	# e.g. "usr/bin/awk"
	[ -e "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
done < <("$BUSYBOX" --list-full)
install -m 0755 "$HERE/guest-init.sh" "$ROOT/init"
# a console node, for the kernel to open before /init mounts devtmpfs
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || true
echo "root:x:0:0:root:/root:/bin/sh" >"$ROOT/etc/passwd"
echo "root:x:0:" >"$ROOT/etc/group"

mkdir -p "$ROOT/payload"
cp -a "$PAYLOAD/." "$ROOT/payload/"

# shared libraries of dynamic ELF files in the payload
libs=$(find "$ROOT/payload" -type f -print0 |
	while IFS= read -r -d '' f; do
		[ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
		ldd "$f" 2>/dev/null || true
	done | sed -n 's/.*=> \(\/[^ ]*\) (0x.*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) (0x.*/\1/p' |
	sort -u)
for lib in $libs; do
	mkdir -p "$ROOT$(dirname "$lib")"
	cp -L "$lib" "$ROOT$lib"
done

(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z |
	cpio --quiet --null -o -H newc -R 0:0) | gzip -1 >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "mkinitramfs: $OUT ($(du -k "$OUT" | cut -f1) KiB, $(echo "$libs" | grep -c / || true) libraries)"
