# SPDX-License-Identifier: GPL-2.0-only
#
# ivshmem: one Makefile for the module, the userspace and the tests.
#
#   make              build the module against KDIR
#   make check        build everything and run the tests in QEMU guests
#   make demo         boot a guest and share a message with the host
#   make bench        doorbell and polling benchmarks in guests
#   make userspace    libivshmem, the ivshmem CLI and ivshmem-server
#   make deb          the Debian packages, into build/deb (deb-check: and test them)
#   make install      module, library, headers, CLI, server, udev rule, man
#                     pages; DESTDIR and PREFIX as usual, WITH_MODULE=0 leaves
#                     the module to DKMS
#
# Under Kbuild (KERNELRELEASE set) only the Kbuild file matters.

ifneq ($(KERNELRELEASE),)
include $(src)/Kbuild
else

KDIR ?= /lib/modules/$(shell uname -r)/build
BUILD ?= $(CURDIR)/build
V ?= 0

.PHONY: all module modules userspace install uninstall deb deb-check clean clean-module distclean check matrix demo bench checkpatch sparse w1

all: module

module modules:
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
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_PATH=$(DESTDIR) INSTALL_MOD_DIR=extra modules_install
endif
	$(MAKE) -C userspace install

uninstall:
	$(MAKE) -C userspace uninstall

# Extra warnings, as upstream's W=1.
w1:
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 modules

# Static analysis with sparse (C=2 rechecks every file).
sparse:
	$(MAKE) -C $(KDIR) M=$(CURDIR) C=2 CF="-D__CHECK_ENDIAN__" modules

checkpatch:
	bash ci/checkpatch.sh

check:
	bash ci/check.sh

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
	rm -rf $(BUILD)/check $(BUILD)/logs

# Also the downloaded guest kernels and kernel-source pieces.
distclean: clean
	rm -rf $(BUILD)

endif
