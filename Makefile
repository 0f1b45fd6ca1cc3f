# SPDX-License-Identifier: GPL-2.0-only
#
# ivshmem: one Makefile for the module, the userspace and the tests.
#
#   make              the module (against KDIR) and the userspace; without
#                     kernel headers, the userspace and one line naming the
#                     headers package to install
#   make module       the module alone (fails without kernel headers)
#   make userspace    libivshmem, the ivshmem CLI and ivshmem-server
#   make W=1          the same, the module with upstream's extra warnings
#   make sparse       the module through sparse (C=2)
#   make checkpatch   checkpatch.pl --strict on the kernel sources
#   make check        build everything and run the tests in QEMU guests
#   make check-loaded make check 3 times in a row under stress-ng --cpu 2
#   make demo         boot a guest and share a message with the host
#   make bench        doorbell and polling benchmarks in guests
#   make matrix       KERNELS="6.1 6.12 7.x": build and test on each (root)
#   make deb          the Debian packages, into build/deb (deb-check: and test them)
#   make install      module, library, headers, CLI, server, udev rule, man
#                     pages; DESTDIR and PREFIX as usual, WITH_MODULE=0 leaves
#                     the module to DKMS
#   make clean        build outputs; downloads and caches in build/ stay
#                     (distclean: those too)
#
# BUILD (default: $IVS_BUILD, else ./build) is where the scripts of ci/ keep
# downloads, caches and logs; it reaches them as IVS_BUILD.
#
# Under Kbuild (KERNELRELEASE set) only the Kbuild file matters.

ifneq ($(KERNELRELEASE),)
include $(src)/Kbuild
else

KREL := $(shell uname -r)
KDIR ?= /lib/modules/$(KREL)/build
BUILD ?= $(or $(IVS_BUILD),$(CURDIR)/build)
export IVS_BUILD := $(BUILD)
V ?= 0

# Kernel headers: a build tree has a Makefile. Without one, the package to
# install, by distribution (os-release's ID and ID_LIKE).
HAVE_KDIR := $(wildcard $(KDIR)/Makefile)
OS_IDS = $(shell . /etc/os-release 2>/dev/null && echo $$ID $$ID_LIKE)
HEADERS_PKG = $(strip \
	$(if $(filter debian ubuntu,$(OS_IDS)),linux-headers-$(KREL), \
	$(if $(filter fedora rhel centos,$(OS_IDS)),kernel-devel-$(KREL), \
	$(if $(filter suse opensuse,$(OS_IDS)),kernel-default-devel, \
	$(if $(filter arch,$(OS_IDS)),linux-headers, \
	the headers of kernel $(KREL))))))
NO_HEADERS = no kernel headers in KDIR=$(KDIR)
HEADERS_HINT = install $(HEADERS_PKG), or set KDIR to a kernel build tree
# In a recipe: stop with one line unless there are headers.
need_kdir = $(if $(HAVE_KDIR),,$(error $(NO_HEADERS): $(or $(1),$(HEADERS_HINT))))

# `make W=1` or `make C=...` asks for the module: no headers is then an error.
WANT_MODULE := $(filter command line,$(origin W) $(origin C))

.PHONY: all module modules userspace install uninstall deb deb-check clean \
	clean-module distclean check check-loaded matrix demo bench checkpatch \
	sparse w1

ifneq ($(HAVE_KDIR)$(WANT_MODULE),)
all: module userspace
else
all: userspace
	@echo "make: userspace built, module skipped: $(NO_HEADERS): $(HEADERS_HINT)" >&2
endif

module modules:
	$(call need_kdir,)
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

userspace:
	$(MAKE) -C userspace

deb:
	bash ci/deb-check.sh build

deb-check:
	bash ci/deb-check.sh

WITH_MODULE ?= 1
install:
ifeq ($(WITH_MODULE),1)
	$(call need_kdir,install $(HEADERS_PKG); or use WITH_MODULE=0 to install the userspace alone and DKMS for the module (see dkms.conf))
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_PATH=$(DESTDIR) INSTALL_MOD_DIR=extra modules_install
endif
	$(MAKE) -C userspace install

uninstall:
	$(MAKE) -C userspace uninstall

# Extra warnings, as upstream's W=1: the same as `make W=1` (Kbuild rebuilds
# what was built without them).
w1:
	$(MAKE) W=1 module

# Static analysis with sparse (C=2 rechecks every file).
sparse:
	$(call need_kdir,)
	$(if $(shell command -v sparse 2>/dev/null),,$(error no sparse: install it (Debian: apt install sparse)))
	$(MAKE) -C $(KDIR) M=$(CURDIR) C=2 CF="-D__CHECK_ENDIAN__" modules

checkpatch:
	bash ci/checkpatch.sh

check:
	bash ci/check.sh

check-loaded:
	bash ci/check-loaded.sh

matrix:
	KERNELS="$(KERNELS)" bash ci/matrix.sh

demo:
	bash ci/demo.sh

bench:
	bash ci/bench.sh

# Kbuild's own clean (M=) would delete every *.o, *.a and *.ko below this
# directory, build/ included, where chroots and kernel trees are cached:
# only the modules' own outputs go.
MODULE_DIRS := . driver selftests/ivshmem/ptecheck
clean-module:
	rm -f $(foreach d,$(MODULE_DIRS),$(addprefix $(d)/,*.o *.ko *.mod *.mod.c \
		.*.cmd Module.symvers modules.order))
	rm -rf .tmp_versions

clean: clean-module
	$(MAKE) -C userspace clean
	$(if $(BUILD),rm -rf $(BUILD)/check $(BUILD)/logs)

# Also the downloaded guest kernels and kernel-source pieces.
distclean: clean
	$(if $(BUILD),rm -rf $(BUILD))

endif
