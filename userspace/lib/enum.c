// SPDX-License-Identifier: MIT
/*
 * enum.c - finding ivshmem devices through libudev, and resolving names.
 *
 * Every public call makes its own udev context and drops it before
 * returning: the library keeps no state between calls. libudev reads
 * sysfs directly, so all of this works without a running udev daemon.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <libudev.h>

#include "internal.h"

#define SUBSYSTEM	"ivshmem"

/* errno after a failed libudev call, never 0 */
static int udev_err(int fallback)
{
	return errno > 0 ? -errno : -fallback;
}

static int parse_index(const char *s, unsigned int *index)
{
	unsigned long v;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end || errno || v > INT_MAX)
		return -EINVAL;
	*index = v;
	return 0;
}

/* @n hex digits (1..max) at *s; advances *s */
static int parse_hex(const char **s, unsigned int max_digits, unsigned long *out)
{
	const char *p = *s;
	unsigned long v = 0;
	unsigned int n = 0;

	while (isxdigit((unsigned char)*p) && n < max_digits) {
		v = v * 16 + (isdigit((unsigned char)*p) ? *p - '0' :
			      tolower((unsigned char)*p) - 'a' + 10);
		p++;
		n++;
	}
	if (!n || isxdigit((unsigned char)*p))
		return -EINVAL;
	*s = p;
	*out = v;
	return 0;
}

/*
 * [DOMAIN:]BUS:DEV.FN in hex, normalised to the kernel's spelling
 * ("%04x:%02x:%02x.%x"). Return: 0 or -EINVAL.
 */
static int parse_pci(const char *s, char *out, size_t len)
{
	unsigned long a, b, c, dom = 0, bus, dev, fn;
	const char *p = s;

	if (parse_hex(&p, 8, &a) || *p++ != ':' || parse_hex(&p, 2, &b))
		return -EINVAL;
	if (*p == ':') {		/* DOMAIN:BUS:DEV.FN */
		p++;
		if (parse_hex(&p, 2, &c))
			return -EINVAL;
		dom = a;
		bus = b;
		dev = c;
	} else {			/* BUS:DEV.FN */
		if (a > 0xff)
			return -EINVAL;
		bus = a;
		dev = b;
	}
	if (*p++ != '.' || parse_hex(&p, 1, &fn) || *p)
		return -EINVAL;
	if (dev > 0x1f || fn > 7)
		return -EINVAL;
	snprintf(out, len, "%04lx:%02lx:%02lx.%lx", dom, bus, dev, fn);
	return 0;
}

static int classify(const char *name, unsigned int *index, char *pci, size_t pci_len)
{
	if (!name || !*name)
		return -EINVAL;
	if (strchr(name, '/'))
		return IVS_NAME_PATH;
	if (!strncmp(name, SUBSYSTEM, strlen(SUBSYSTEM)) &&
	    !parse_index(name + strlen(SUBSYSTEM), index))
		return IVS_NAME_INDEX;
	if (!parse_index(name, index))
		return IVS_NAME_INDEX;
	if (!parse_pci(name, pci, pci_len))
		return IVS_NAME_PCI;
	return -EINVAL;
}

static int copy_str(char *dst, size_t len, const char *src)
{
	if (!src)
		src = "";
	if (strlen(src) >= len)
		return -ENAMETOOLONG;
	strcpy(dst, src);
	return 0;
}

static int attr_u64(struct udev_device *d, const char *attr, uint64_t *out)
{
	const char *v = udev_device_get_sysattr_value(d, attr);
	unsigned long long x;
	char *end;

	if (!v)
		return -EIO;
	errno = 0;
	x = strtoull(v, &end, 0);
	while (isspace((unsigned char)*end))
		end++;
	if (errno || end == v || *end)
		return -EIO;
	*out = x;
	return 0;
}

static int attr_u32(struct udev_device *d, const char *attr, uint32_t *out)
{
	uint64_t v;
	int ret = attr_u64(d, attr, &v);

	if (ret)
		return ret;
	if (v > UINT32_MAX)
		return -EIO;
	*out = v;
	return 0;
}

/* Fill @info from the class device @d (subsystem ivshmem). */
static int fill_info(struct udev_device *d, struct ivshmem_devinfo *info)
{
	struct udev_device *pci;
	const char *num;
	int ret;

	memset(info, 0, sizeof(*info));
	num = udev_device_get_sysnum(d);
	info->index = num ? atoi(num) : -1;
	ret = copy_str(info->node, sizeof(info->node), udev_device_get_devnode(d));
	if (ret)
		return ret;
	ret = attr_u64(d, "size", &info->size);
	if (!ret)
		ret = attr_u32(d, "peer_id", &info->peer_id);
	if (!ret)
		ret = attr_u32(d, "vectors", &info->vectors);
	if (!ret)
		ret = attr_u32(d, "revision", &info->revision);
	if (ret)
		return ret;
	/* owned by @d, not to be unref'ed */
	pci = udev_device_get_parent_with_subsystem_devtype(d, "pci", NULL);
	if (pci)
		ret = copy_str(info->pci_address, sizeof(info->pci_address),
			       udev_device_get_sysname(pci));
	return ret;
}

static bool is_ivshmem(struct udev_device *d)
{
	const char *s = udev_device_get_subsystem(d);

	return s && !strcmp(s, SUBSYSTEM);
}

/*
 * The class device that @name (of kind @want, or any) designates, in *@d,
 * and its device number. For a path, *@d stays NULL when udev does not know
 * the device number at all (no sysfs): the caller then relies on the
 * driver's answer. Return: the kind of name, or a negative errno.
 */
static int find_device(struct udev *udev, const char *name, int want,
		       struct udev_device **d, dev_t *rdev)
{
	char pci[IVSHMEM_PCI_ADDRESS_MAX], sysname[32], sys[64];
	struct udev_enumerate *e;
	struct udev_list_entry *first;
	struct udev_device *parent;
	unsigned int index;
	struct stat st;
	int kind, ret;

	*d = NULL;
	kind = classify(name, &index, pci, sizeof(pci));
	if (kind < 0)
		return kind;
	if (want != IVS_NAME_ANY && kind != want)
		return -EINVAL;

	switch (kind) {
	case IVS_NAME_INDEX:
		snprintf(sysname, sizeof(sysname), SUBSYSTEM "%u", index);
		*d = udev_device_new_from_subsystem_sysname(udev, SUBSYSTEM, sysname);
		if (!*d)
			return -ENOENT;
		break;
	case IVS_NAME_PATH:
		if (stat(name, &st))
			return -errno;
		if (!S_ISCHR(st.st_mode))
			return -ENODEV;
		*rdev = st.st_rdev;
		*d = udev_device_new_from_devnum(udev, 'c', st.st_rdev);
		if (!*d) {
			/* sysfs knows the number, but udev found no device */
			snprintf(sys, sizeof(sys), "/sys/dev/char/%u:%u",
				 major(st.st_rdev), minor(st.st_rdev));
			if (!access("/sys/dev/char", F_OK) && !access(sys, F_OK))
				return -ENODEV;
			return kind;
		}
		if (!is_ivshmem(*d)) {
			udev_device_unref(*d);
			*d = NULL;
			return -ENODEV;
		}
		return kind;
	case IVS_NAME_PCI:
		parent = udev_device_new_from_subsystem_sysname(udev, "pci", pci);
		if (!parent)
			return -ENOENT;
		e = udev_enumerate_new(udev);
		if (!e) {
			ret = udev_err(ENOMEM);
			udev_device_unref(parent);
			return ret;
		}
		ret = udev_enumerate_add_match_subsystem(e, SUBSYSTEM);
		if (!ret)
			ret = udev_enumerate_add_match_parent(e, parent);
		if (!ret)
			ret = udev_enumerate_scan_devices(e);
		first = ret ? NULL : udev_enumerate_get_list_entry(e);
		if (first)
			*d = udev_device_new_from_syspath(udev,
							 udev_list_entry_get_name(first));
		udev_enumerate_unref(e);
		udev_device_unref(parent);
		if (ret < 0)
			return ret;
		/* a PCI device, but not an ivshmem one (or no driver bound) */
		if (!*d || !is_ivshmem(*d)) {
			if (*d)
				udev_device_unref(*d);
			*d = NULL;
			return -ENODEV;
		}
		break;
	}
	*rdev = udev_device_get_devnum(*d);
	return kind;
}

int ivshmem__resolve(const char *name, int want, char *path, size_t path_len,
		dev_t *rdev, bool *known)
{
	struct udev_device *d;
	struct udev *udev;
	int ret;

	udev = udev_new();
	if (!udev)
		return udev_err(ENOMEM);
	ret = find_device(udev, name, want, &d, rdev);
	*known = d != NULL;
	if (ret == IVS_NAME_PATH)
		ret = copy_str(path, path_len, name);
	else if (ret >= 0 && !udev_device_get_devnode(d))
		ret = -ENODEV;		/* no node: nothing to open */
	else if (ret >= 0)
		ret = copy_str(path, path_len, udev_device_get_devnode(d));
	if (d)
		udev_device_unref(d);
	udev_unref(udev);
	return ret;
}

int ivshmem__describe_rdev(dev_t rdev, struct ivshmem_devinfo *info)
{
	struct udev_device *d;
	struct udev *udev;
	int ret = -ENOENT;

	udev = udev_new();
	if (!udev)
		return udev_err(ENOMEM);
	d = udev_device_new_from_devnum(udev, 'c', rdev);
	if (d && is_ivshmem(d))
		ret = fill_info(d, info);
	if (d)
		udev_device_unref(d);
	udev_unref(udev);
	return ret;
}

IVSHMEM_EXPORT int ivshmem_lookup(const char *name, struct ivshmem_devinfo *info)
{
	struct udev_device *d;
	struct udev *udev;
	dev_t rdev;
	int ret;

	if (!info)
		return -EINVAL;
	udev = udev_new();
	if (!udev)
		return udev_err(ENOMEM);
	ret = find_device(udev, name, IVS_NAME_ANY, &d, &rdev);
	if (ret >= 0 && !d)
		ret = -ENODEV;		/* a path udev cannot describe */
	if (ret >= 0)
		ret = fill_info(d, info);
	if (d)
		udev_device_unref(d);
	udev_unref(udev);
	return ret;
}

static int cmp_index(const void *a, const void *b)
{
	const struct ivshmem_devinfo *x = a, *y = b;

	return (x->index > y->index) - (x->index < y->index);
}

IVSHMEM_EXPORT int ivshmem_list(struct ivshmem_devinfo **devs, size_t *count)
{
	struct ivshmem_devinfo *list = NULL, *grown;
	struct udev_list_entry *entry;
	struct udev_enumerate *e;
	size_t n = 0, cap = 0;
	struct udev *udev;
	int ret;

	if (!devs || !count)
		return -EINVAL;
	*devs = NULL;
	*count = 0;

	udev = udev_new();
	if (!udev)
		return udev_err(ENOMEM);
	e = udev_enumerate_new(udev);
	if (!e) {
		ret = udev_err(ENOMEM);
		goto out_udev;
	}
	ret = udev_enumerate_add_match_subsystem(e, SUBSYSTEM);
	if (!ret)
		ret = udev_enumerate_scan_devices(e);
	if (ret < 0)
		goto out_enum;

	udev_list_entry_foreach(entry, udev_enumerate_get_list_entry(e)) {
		struct udev_device *d;
		struct ivshmem_devinfo info;

		d = udev_device_new_from_syspath(udev, udev_list_entry_get_name(entry));
		if (!d)
			continue;	/* removed meanwhile */
		ret = is_ivshmem(d) ? fill_info(d, &info) : -ENODEV;
		udev_device_unref(d);
		if (ret == -ENAMETOOLONG)
			goto out_enum;
		if (ret) {
			ret = 0;	/* removed meanwhile: attributes gone */
			continue;
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 4;
			grown = realloc(list, cap * sizeof(*list));
			if (!grown) {
				ret = -ENOMEM;
				goto out_enum;
			}
			list = grown;
		}
		list[n++] = info;
	}
	qsort(list, n, sizeof(*list), cmp_index);
	*devs = list;
	*count = n;
	list = NULL;

out_enum:
	free(list);
	udev_enumerate_unref(e);
out_udev:
	udev_unref(udev);
	return ret;
}

IVSHMEM_EXPORT void ivshmem_list_free(struct ivshmem_devinfo *devs)
{
	free(devs);
}
