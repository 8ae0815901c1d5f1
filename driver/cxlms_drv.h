/* SPDX-License-Identifier: GPL-2.0 */
/*
 * cxlms.ko internals: the device, an attached store, per-tensor state and
 * per-fd state.  The store bytes (superblock, directory, CRC arrays, tiles)
 * live in the backing memory in the codec's store format.  That memory may
 * be shared with other hosts and may hold poison, so it is untrusted input:
 * ATTACH copies the superblock and directory out once (machine-check safe),
 * validates the copy, and from then on every decision uses kernel state
 * only; metadata is written kernel copy -> media and never read back.  Tile
 * bytes and CRC arrays are read (again with copy_mc) into kernel buffers at
 * offsets from the validated copy: rewritten media can only give wrong
 * weights or a checksum error, never an access outside the store.
 *
 * Locking, outermost first:
 *   cxlms_file.bounce_lock  mutex: the fd's fetch bounce and stage buffers;
 *                           FETCH takes it before the attach lock, so it can
 *                           drop and retake the attach lock around each
 *                           copy to user memory while keeping its buffers
 *   cxlms_dev.attach_lock   rw: ATTACH/DETACH write, every other command read
 *   cxlms_tensor.rwsem      rw: TILE_WRITE/SEAL write, VERIFY read (FETCH
 *                           serves sealed tensors only, which never change)
 *   cxlms_store.meta_lock   mutex: directory and superblock updates, listing
 *                           (SEAL takes it inside its tensor's rwsem)
 *   cxlms_dev.map_lock      mutex: SET_MAP and DETACH swapping the maps
 *                           (readers use RCU + a reference, policy.c)
 *   cxlms_file.ctx_lock     spinlock: the fd's context name
 * Views (view.c): mmap_lock or attach_lock -> cxlms_dev.view_lock (the view
 * list, mapped counts) -> the view's lock (its pages) -> the core's
 * i_mmap_rwsem and page table locks.
 */
#ifndef CXLMS_DRV_H
#define CXLMS_DRV_H

#include <linux/atomic.h>
#include <linux/miscdevice.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/shrinker.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include "bitplane.h"
#include "store_format.h"

#define CXLMS_DIR_CAPACITY_DEFAULT	1024
#define CXLMS_DIR_CAPACITY_MAX		65536
#define CXLMS_POLICY_BYTES		(64 * 1024)
#define CXLMS_STORE_MIN_BYTES		(1024 * 1024)
/* Largest tile output block: F32 of a maximal tile (side data is smaller). */
#define CXLMS_FETCH_TILE_MAX_BYTES	(4ull * CXLMS_TILE_MAX_ELEMS + 4096)
/* TILE_WRITE copies user data in chunks of this many elements. */
#define CXLMS_WRITE_CHUNK_ELEMS		(32 * 1024)
/* A modelled link never stalls one FETCH longer than this. */
#define CXLMS_LINK_DELAY_MAX_NS		NSEC_PER_SEC

struct cxlms_counters {
	atomic64_t fetches;
	atomic64_t plane_bytes[CXLMS_MAX_PLANES];
	atomic64_t side_bytes;
	atomic64_t out_bytes;
};

struct cxlms_tensor {
	struct rw_semaphore rwsem;
	u32 index;
	/* Validated copy of the directory entry; flags change only at SEAL. */
	struct cxlms_dirent d;
	struct cxlms_tile_geom g;
	struct cxlms_tile_layout l;
	/* Tiles written since attach (SEAL needs all); NULL once sealed. */
	unsigned long *written;
	struct cxlms_counters stats;
};

struct cxlms_dev;

struct cxlms_store {
	struct cxlms_dev *dev;
	u8 *base;		/* backing memory, store offset 0 */
	u64 bytes;		/* size of the backing memory */
	u32 backing;		/* CXLMS_BACKING_* */
	phys_addr_t start;	/* CXL: host physical start */
	struct resource *res;	/* CXL: our claim on the range */
	bool readonly;		/* unknown ro_compat features */

	/* Serialises superblock and directory updates (CREATE, SEAL, LIST). */
	struct mutex meta_lock;
	struct cxlms_sb sb;	/* validated kernel copy, written to media */
	struct cxlms_dirent *dir;	/* kernel copy, dir_capacity entries */
	u32 dir_capacity;
	/* Tensors [0, count) are initialised; published with release. */
	u32 count;
	u64 crc_next;		/* next free byte of the CRC area */
	u64 crc_end;		/* end of the CRC area */
	struct cxlms_tensor **tensors;	/* dir_capacity slots */
	/* What the directory copies hold (format.md 1.5, store_commit()). */
	struct cxlms_update_track track;
};

struct cxlms_dev {
	struct miscdevice misc;
	struct rw_semaphore attach_lock;
	struct cxlms_store *store;	/* NULL while detached */
	struct cxlms_counters stats;
	struct dentry *debugfs;
	u64 link_bytes_per_sec;		/* debugfs knob, 0 = no link model */
	u64 link_latency_ns;		/* debugfs knob */
	/* Precision maps (policy.c): NULL until SET_MAP, dropped by DETACH. */
	struct cxlms_map __rcu *map;
	struct mutex map_lock;
	u64 map_seq;			/* last generation handed out */
	/* Bumped by every ATTACH and DETACH: a FETCH spanning one -> -ESTALE. */
	u64 attach_gen;
	atomic64_t media_errors;	/* media reads that failed (poison) */
	atomic_t inject_media_error;	/* debugfs: fail this many next reads */
	/*
	 * debugfs crash_after_meta_writes: the Nth metadata write from now
	 * (CRC array, directory or superblock) is the last: the machine is
	 * reset right after it, like a power loss (0 = off).  With
	 * crash_torn set, only the first half of that write reaches the
	 * media.  Crash-consistency tests only (driver/crash-check.sh).
	 */
	u32 crash_after_meta_writes;
	u32 crash_torn;
	/* Views (view.c): every live view of every fd, oldest first. */
	struct mutex view_lock;
	struct list_head views;
	unsigned long view_next_pgoff;	/* next mmap offset, in pages */
	atomic64_t view_faults;
	atomic64_t view_fills;
	atomic64_t view_pages;		/* resident, a gauge */
	struct shrinker view_shrinker;
	struct work_struct view_reclaim;
	atomic_long_t view_reclaim_target;
};

struct cxlms_file {
	struct cxlms_dev *dev;
	/* Context of this fd's policy fetches ("" = the maps' default). */
	spinlock_t ctx_lock;
	char context[CXLMS_MAP_NAME_MAX];
	/* Threads sharing an fd take turns with its bounce buffer. */
	struct mutex bounce_lock;
	void *bounce;
	size_t bounce_len;
	/* Tile bytes read from the media (machine-check safe), then decoded. */
	void *stage;
	size_t stage_len;
	/* The open file's mapping (views' pages live there), views it holds. */
	struct address_space *mapping;
	u32 n_views;			/* under cxlms_dev.view_lock */
};

/* ioctl.c: the one validation path, shared by ioctl and uring_cmd */
long cxlms_ioctl(struct file *file, unsigned int cmd, unsigned long arg);
/* A command whose struct is in user memory; @nowait: -EAGAIN, not sleep. */
long cxlms_cmd_user(struct cxlms_file *cf, unsigned int cmd,
		    void __user *uarg, bool nowait);
/* FETCH from a kernel copy of the struct (@len bytes at most). */
/* @gen: attach generation the request must run against, 0 = current. */
int cxlms_cmd_fetch(struct cxlms_file *cf, unsigned int cmd,
		    const void *payload, u32 len,
		    u64 out_max, bool nowait, u64 gen,
		    struct cxlms_ioc_fetch *f);

/* uring.c */
struct io_uring_cmd;
int cxlms_uring_cmd(struct io_uring_cmd *ioucmd, unsigned int issue_flags);

/* store.c: called with attach_lock held for write */
int cxlms_store_attach(struct cxlms_dev *dev, const struct cxlms_ioc_attach *a,
		       char *why);
void cxlms_store_detach(struct cxlms_dev *dev);
/* store.c: called with attach_lock held for read */
struct cxlms_tensor *cxlms_store_tensor(struct cxlms_store *s, u32 index);
void cxlms_store_query(struct cxlms_store *s, struct cxlms_ioc_query *q);
/* Drops and retakes attach_lock around user copies, like cxlms_fetch(). */
int cxlms_store_list(struct cxlms_store *s, struct cxlms_ioc_tensor_list *tl);
int cxlms_tensor_create(struct cxlms_store *s,
			struct cxlms_ioc_tensor_create *c);
int cxlms_tile_write(struct cxlms_store *s, const struct cxlms_ioc_tile_write *w);
int cxlms_tensor_seal(struct cxlms_store *s, u32 index);
int cxlms_store_verify(struct cxlms_store *s, struct cxlms_ioc_verify *v);

/* store.c: machine-check safe read of store bytes [@off, @off + @len) */
int cxlms_media_read(struct cxlms_store *s, void *dst, u64 off, size_t len);

/* fetch.c */
/*
 * Called with attach_lock held for read; may drop and retake it around user
 * copies (not when @nowait), returning -ESTALE if the store changed.
 */
int cxlms_fetch(struct cxlms_file *cf, struct cxlms_store *s,
		struct cxlms_ioc_fetch *f, bool nowait);
void cxlms_counters_read(struct cxlms_counters *c, struct cxlms_ioc_stats *st,
			 bool reset);
void cxlms_counters_add(struct cxlms_counters *c,
			const struct cxlms_fetch_layout *fl, u32 bits, u64 out);
void cxlms_counters_merge(struct cxlms_counters *c,
			  struct cxlms_counters *add);
/*
 * Copy what a fetch of @bits planes reads of tile @tile (@fl: its fetch
 * layout) from the media into @stage at the tile's offsets; 0 or -EIO.
 */
int cxlms_stage_tile(struct cxlms_store *s, const struct cxlms_tensor *t,
		     u32 tile, u32 bits, const struct cxlms_fetch_layout *fl,
		     u8 *stage);
void cxlms_file_release_bounce(struct cxlms_file *cf);

/* policy.c: precision maps; checks run in cmd_prepare(), no state */
struct cxlms_map;
int cxlms_policy_check_set_map(struct cxlms_ioc_set_map *m);
int cxlms_policy_check_set_context(struct cxlms_ioc_set_context *c);
int cxlms_policy_check_get_map(struct cxlms_ioc_get_map *g);
/* Called with attach_lock held for read. */
int cxlms_policy_set_map(struct cxlms_file *cf, struct cxlms_store *s,
			 struct cxlms_ioc_set_map *m);
int cxlms_policy_set_context(struct cxlms_file *cf,
			     struct cxlms_ioc_set_context *c);
int cxlms_policy_get_map(struct cxlms_file *cf, struct cxlms_store *s,
			 struct cxlms_ioc_get_map *g);
int cxlms_policy_fetch(struct cxlms_file *cf, struct cxlms_store *s,
		       struct cxlms_ioc_fetch *f, bool nowait);
/* Forget the maps (DETACH, module exit). */
void cxlms_policy_drop(struct cxlms_dev *dev);
/* Bits the fd's context gives tiles [@t0, @t0 + @n) of @tensor now. */
int cxlms_policy_tile_bits(struct cxlms_file *cf, u32 tensor, u32 t0, u32 n,
			   u8 *bits);

/* view.c: precision alias windows */
struct vm_area_struct;
int cxlms_views_init(struct cxlms_dev *dev);
void cxlms_views_exit(struct cxlms_dev *dev);
int cxlms_view_check_create(struct cxlms_ioc_view_create *c);
/* Called with attach_lock held for read; drops it around the user copy. */
int cxlms_view_create(struct cxlms_file *cf, struct cxlms_store *s,
		      struct cxlms_ioc_view_create *c);
int cxlms_view_destroy(struct cxlms_file *cf, struct cxlms_ioc_view_destroy *d);
int cxlms_view_mmap(struct file *file, struct vm_area_struct *vma);
void cxlms_views_release(struct cxlms_file *cf);
/* With attach_lock held for write: -EBUSY while a view is mapped. */
int cxlms_views_detach(struct cxlms_dev *dev);
/* After SET_MAP (@cf NULL) or @cf's SET_CONTEXT. */
void cxlms_views_policy_changed(struct cxlms_dev *dev, struct cxlms_file *cf);

#endif /* CXLMS_DRV_H */
