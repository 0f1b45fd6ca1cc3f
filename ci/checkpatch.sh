#!/bin/bash
# checkpatch.sh: the kernel's checkpatch.pl --strict over the kernel-side
# sources; what `make checkpatch` and make check (check.sh) run. The list of
# files is defined here and nowhere else.
#
#   ci/checkpatch.sh          checkpatch's findings, then one line
#                             "checkpatch: N files clean" or
#                             "checkpatch: N files: E errors, W warnings, C checks";
#                             exits 1 on any finding
#   ci/checkpatch.sh --list   the files, one a line, relative to the repo
#
# checkpatch.pl is never kept in the repo. It comes from $CHECKPATCH, else
# from $IVS_BUILD/env.sh (ci/prepare.sh extracts it from Debian's
# linux-source-6.1 tarball), else $KDIR/scripts/checkpatch.pl; failing all
# three, deps.sh and prepare.sh fetch it, as make check does.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
IVS_BUILD=${IVS_BUILD:-$REPO/build}

# The kernel-side sources: the module, its probes, the uapi header and the
# test helper module of the selftests.
PATTERNS=('driver/*.[ch]' 'uapi/*.h' 'selftests/ivshmem/ptecheck/*.c')

ksrc_list() {
	local f
	cd "$REPO"
	if [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$REPO" ]; then
		# tracked files and new ones not ignored (so no *.mod.c); a
		# pathspec's * matches / too: driver/probes/ is included
		git ls-files --cached --others --exclude-standard -- "${PATTERNS[@]}"
	else
		for f in "${PATTERNS[@]}"; do
			find "${f%%/\**}" -path "$f" ! -name '*.mod.c' 2>/dev/null
		done
	fi | sort -u | while IFS= read -r f; do [ -f "$f" ] && echo "$f"; done
}

if [ "${1:-}" = --list ]; then
	ksrc_list
	exit 0
fi

find_checkpatch() {
	if [ -n "${CHECKPATCH:-}" ]; then
		echo "$CHECKPATCH"
		return
	fi
	if [ -f "$IVS_BUILD/env.sh" ]; then
		# shellcheck source=/dev/null
		(. "$IVS_BUILD/env.sh" && [ -f "${CHECKPATCH:-}" ] && echo "$CHECKPATCH") && return
	fi
	if [ -n "${KDIR:-}" ] && [ -f "$KDIR/scripts/checkpatch.pl" ]; then
		echo "$KDIR/scripts/checkpatch.pl"
	fi
}

cp=$(find_checkpatch || true)
if [ -z "$cp" ]; then
	echo "checkpatch: fetching checkpatch.pl into $IVS_BUILD (ci/deps.sh, ci/prepare.sh)" >&2
	"$HERE/deps.sh" >&2
	"$HERE/prepare.sh" "$IVS_BUILD" >/dev/null
	cp=$(find_checkpatch || true)
fi
if [ ! -f "$cp" ]; then
	echo "checkpatch: no checkpatch.pl (${cp:-none found}): run ci/prepare.sh or set CHECKPATCH" >&2
	exit 1
fi

mapfile -t files < <(ksrc_list)
if [ ${#files[@]} -eq 0 ]; then
	echo "checkpatch: no kernel sources found under $REPO" >&2
	exit 1
fi

out=$(cd "$REPO" && perl "$cp" --strict --no-tree --terse --show-types \
	-f "${files[@]}" 2>&1) && rc=0 || rc=$?
count() { grep -c ": $1:" <<<"$out" || true; }
e=$(count ERROR) w=$(count WARNING) c=$(count CHECK)
if [ "$rc" -eq 0 ] && [ $((e + w + c)) -eq 0 ]; then
	echo "checkpatch: ${#files[@]} files clean"
	exit 0
fi
printf '%s\n' "$out"
echo "checkpatch: ${#files[@]} files: $e errors, $w warnings, $c checks (rc $rc)"
exit 1
