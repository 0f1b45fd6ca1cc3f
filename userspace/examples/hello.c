// SPDX-License-Identifier: MIT
/*
 * hello - the smallest libivshmem program: list the devices, then write a
 * message into the shared memory of the first (or of DEV) and read it back.
 *
 *   cc -o hello hello.c $(pkg-config --cflags --libs libivshmem)
 *   ./hello [DEV [MESSAGE]]
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libivshmem.h>

int main(int argc, char **argv)
{
	const char *msg = argc > 2 ? argv[2] : "hello from libivshmem";
	const char *dev_name = argc > 1 ? argv[1] : NULL;
	struct ivshmem_devinfo *devs;
	struct ivshmem_dev *dev;
	char name[16], back[256];
	size_t n, i, len = strlen(msg) + 1;
	void *mem;
	int ret;

	ret = ivshmem_list(&devs, &n);
	if (ret) {
		fprintf(stderr, "hello: list: %s\n", strerror(-ret));
		return 1;
	}
	for (i = 0; i < n; i++)
		printf("%s %s %" PRIu64 " bytes\n", devs[i].node, devs[i].pci_address,
		       devs[i].size);
	if (!n && argc < 2) {
		fprintf(stderr, "hello: no ivshmem device\n");
		return 1;
	}
	snprintf(name, sizeof(name), "%d", n ? devs[0].index : 0);
	ivshmem_list_free(devs);
	if (!dev_name)
		dev_name = name;

	ret = ivshmem_open(dev_name, &dev);
	if (!ret)
		ret = len > sizeof(back) ? -EMSGSIZE : ivshmem_map(dev, 0, 0, 0, &mem);
	if (ret) {
		fprintf(stderr, "hello: %s: %s\n", dev_name, strerror(-ret));
		ivshmem_close(dev);
		return 1;
	}
	memcpy(mem, msg, len);
	memcpy(back, mem, len);
	printf("wrote and read back: %s\n", back);
	ivshmem_close(dev);	/* also unmaps */
	return strcmp(back, msg) != 0;
}
