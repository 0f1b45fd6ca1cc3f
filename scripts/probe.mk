# SPDX-License-Identifier: GPL-2.0-only
#
# Kernel feature probes for Kbuild files.
#
# $(call ivshmem_probe,FILE.c,NAME) gives -DIVSHMEM_HAVE_NAME when FILE.c
# compiles against the kernel being built for, with that kernel's own flags.
# A compile test is used rather than LINUX_VERSION_CODE because distribution
# kernels backport changes and their version numbers do not tell.

ivshmem_probe_cc = $(CC) $(KBUILD_CPPFLAGS) $(LINUXINCLUDE) \
	-include $(srctree)/include/linux/compiler_types.h \
	$(KBUILD_CFLAGS) -DKBUILD_MODNAME='"ivshmem_probe"' \
	-Werror -c -o /dev/null

ivshmem_probe = $(call try-run,$(ivshmem_probe_cc) $(1),-DIVSHMEM_HAVE_$(2))
