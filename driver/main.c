// SPDX-License-Identifier: GPL-2.0
/*
 * cxlms.ko: a CXL-attached model store.  The module emulates the memory
 * controller of a CXL device that keeps model weights as bit-planes: the
 * host writes weights in natural order, the controller places planes, and
 * fetches at k bits read only the top k planes from the backing memory (a
 * CXL region's range, or kernel RAM).  One misc device, /dev/cxlms0.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "cxlms_drv.h"

static struct cxlms_dev cxlms_dev0;

static int cxlms_open(struct inode *inode, struct file *file)
{
	struct cxlms_file *cf;

	cf = kzalloc(sizeof(*cf), GFP_KERNEL);
	if (!cf)
		return -ENOMEM;
	cf->dev = &cxlms_dev0;
	cf->mapping = file->f_mapping;
	mutex_init(&cf->bounce_lock);
	spin_lock_init(&cf->ctx_lock);
	file->private_data = cf;
	return 0;
}

static int cxlms_release(struct inode *inode, struct file *file)
{
	struct cxlms_file *cf = file->private_data;

	cxlms_views_release(cf);
	cxlms_file_release_bounce(cf);
	mutex_destroy(&cf->bounce_lock);
	kfree(cf);
	return 0;
}

/* .owner pins the module while any fd is open: rmmod then fails with EBUSY. */
static const struct file_operations cxlms_fops = {
	.owner = THIS_MODULE,
	.open = cxlms_open,
	.release = cxlms_release,
	.unlocked_ioctl = cxlms_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.uring_cmd = cxlms_uring_cmd,
	.mmap = cxlms_view_mmap,
	.llseek = noop_llseek,
};

static ssize_t abi_revision_show(struct device *dev,
				 struct device_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", CXLMS_ABI_REVISION);
}
static DEVICE_ATTR_RO(abi_revision);

static struct attribute *cxlms_attrs[] = {
	&dev_attr_abi_revision.attr,
	NULL,
};
ATTRIBUTE_GROUPS(cxlms);

/*
 * debugfs cxlms/media: the attached store's backing bytes, for tests that
 * play the other host on a shared pool (rewrite the superblock, directory
 * or tiles under an attached store; /dev/mem cannot, IO_STRICT_DEVMEM).
 * Reads go through cxlms_media_read(); no lock is held across user copies.
 */
#define CXLMS_MEDIA_CHUNK	PAGE_SIZE

static ssize_t media_rw(struct file *file, char __user *ubuf, size_t len,
			loff_t *ppos, bool write)
{
	struct cxlms_dev *dev = file->private_data;
	struct cxlms_store *s;
	void *buf;
	ssize_t ret;

	if (*ppos < 0)
		return -EINVAL;
	len = min_t(size_t, len, CXLMS_MEDIA_CHUNK);
	buf = kmalloc(CXLMS_MEDIA_CHUNK, GFP_KERNEL_ACCOUNT);
	if (!buf)
		return -ENOMEM;
	ret = -EFAULT;
	if (write && copy_from_user(buf, ubuf, len))
		goto out;
	down_read(&dev->attach_lock);
	s = dev->store;
	if (!s) {
		ret = -ENXIO;
	} else if (*ppos >= s->bytes) {
		ret = write ? -ENOSPC : 0;
		len = 0;
	} else {
		len = min_t(u64, len, s->bytes - *ppos);
		ret = 0;
		if (write)
			memcpy(s->base + *ppos, buf, len);
		else
			ret = cxlms_media_read(s, buf, *ppos, len);
	}
	up_read(&dev->attach_lock);
	if (ret || !len)
		goto out;
	ret = -EFAULT;
	if (!write && copy_to_user(ubuf, buf, len))
		goto out;
	*ppos += len;
	ret = len;
out:
	kfree(buf);
	return ret;
}

static ssize_t media_read(struct file *file, char __user *ubuf, size_t len,
			  loff_t *ppos)
{
	return media_rw(file, ubuf, len, ppos, false);
}

static ssize_t media_write(struct file *file, const char __user *ubuf,
			   size_t len, loff_t *ppos)
{
	return media_rw(file, (char __user *)ubuf, len, ppos, true);
}

static const struct file_operations media_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = media_read,
	.write = media_write,
	.llseek = default_llseek,
};

/* Test knobs of the CXL link model (see fetch.c); absent without debugfs. */
static void cxlms_debugfs_init(struct cxlms_dev *dev)
{
	dev->debugfs = debugfs_create_dir("cxlms", NULL);
	debugfs_create_u64("link_bytes_per_sec", 0600, dev->debugfs,
			   &dev->link_bytes_per_sec);
	debugfs_create_u64("link_latency_ns", 0600, dev->debugfs,
			   &dev->link_latency_ns);
	/* Tests: the next N media reads report poison (-EIO, media_errors). */
	debugfs_create_atomic_t("inject_media_error", 0600, dev->debugfs,
				&dev->inject_media_error);
	debugfs_create_file("media", 0600, dev->debugfs, dev, &media_fops);
	debugfs_create_u32("crash_after_meta_writes", 0600, dev->debugfs,
			   &dev->crash_after_meta_writes);
	debugfs_create_u32("crash_torn", 0600, dev->debugfs, &dev->crash_torn);
}

static int __init cxlms_init(void)
{
	struct cxlms_dev *dev = &cxlms_dev0;
	int ret;

	init_rwsem(&dev->attach_lock);
	mutex_init(&dev->map_lock);
	dev->misc.minor = MISC_DYNAMIC_MINOR;
	dev->misc.name = "cxlms0";
	dev->misc.fops = &cxlms_fops;
	dev->misc.mode = 0600;
	dev->misc.groups = cxlms_groups;

	ret = cxlms_views_init(dev);
	if (ret)
		return ret;
	cxlms_debugfs_init(dev);
	ret = misc_register(&dev->misc);
	if (ret)
		goto err_debugfs;
	pr_info("/dev/%s ready (ABI revision %u)\n", dev->misc.name,
		CXLMS_ABI_REVISION);
	return 0;

err_debugfs:
	debugfs_remove_recursive(dev->debugfs);
	cxlms_views_exit(dev);
	return ret;
}

static void __exit cxlms_exit(void)
{
	struct cxlms_dev *dev = &cxlms_dev0;

	/* No fd is open (the module would be pinned): nothing can race. */
	misc_deregister(&dev->misc);
	down_write(&dev->attach_lock);
	if (dev->store)
		cxlms_store_detach(dev);
	up_write(&dev->attach_lock);
	cxlms_policy_drop(dev);
	/* The maps' RCU callbacks are module code: let them finish first. */
	rcu_barrier();
	debugfs_remove_recursive(dev->debugfs);
	cxlms_views_exit(dev);
}

module_init(cxlms_init);
module_exit(cxlms_exit);
MODULE_DESCRIPTION("cxlms: CXL-attached bit-plane model store");
MODULE_LICENSE("GPL");
