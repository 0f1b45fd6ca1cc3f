#!/bin/bash
# matrix.sh: the kernel compatibility matrix (`make matrix`).
#
#   KERNELS="6.1 6.12 7.x" bash ci/matrix.sh
#
# For each kernel (default: all three; kernels.sh says where each comes
# from): the headers, the compiler that builds for them and the matching
# guest image (cached in build/); ivshmem.ko and ivshmem_ptecheck.ko built
# with W=1 (any warning fails); the payload; the guest scenarios of
# `make check` booted on that kernel; the DKMS check (dkms-check.sh;
# IVS_DKMS=0 leaves it out). Prints per kernel
#   NAME KVER: built / loaded / N passed, N failed[, N skipped] (T s)
# and, last, "N passed, N failed[, N skipped]"; exits non-zero on a failure.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=payload.sh
. "$HERE/payload.sh"
# shellcheck source=scenarios.sh
. "$HERE/scenarios.sh"
# shellcheck source=dkms-check.sh
. "$HERE/dkms-check.sh"

KERNELS=${KERNELS:-$("$HERE/kernels.sh" names)}
export IVS_DKMS=${IVS_DKMS:-1}
[ "$(id -u)" -eq 0 ] || { echo "matrix: needs root (debootstrap, chroot, dkms)" >&2; exit 1; }
t0=$SECONDS

ivs_step "dependencies"
"$HERE/deps.sh"
"$HERE/prepare.sh" "$IVS_BUILD" >/dev/null
ivs_env

for k in $KERNELS; do
	ivs_lane "$k" || true
done

ivs_step "matrix: $KERNELS ($((SECONDS - t0)) s)"
ivs_lane_lines
ivs_summary
