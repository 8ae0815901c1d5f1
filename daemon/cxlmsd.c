// SPDX-License-Identifier: GPL-2.0
/*
 * cxlmsd - the context-dependent precision policy daemon.
 *
 * Reads /etc/cxlms/cxlmsd.conf (+ conf.d drop-ins), computes one precision
 * map per context for the store it serves and publishes them into the
 * store's policy area, where every fetching process sees them; for a
 * device (/dev/cxlmsN) the same maps go to the module by SET_MAP, and the
 * read rate comes from the device's own counters.  One event
 * loop (epoll): signals through a signalfd (SIGHUP reloads, SIGTERM/SIGINT
 * stop), the control socket and its clients, and an interval timer that
 * samples the read rate for pressure mode and applies pending importance
 * reports.  Never forks: systemd (or the shell) keeps it in the
 * foreground; -f sends the log to stderr instead of syslog.
 *
 * A reload parses the files into a fresh config, opens the store if it
 * changed, computes every map, and only when all of that succeeded swaps
 * the result in and publishes it.  Anything wrong leaves the running
 * policy untouched and is logged with file:line.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>

#include <libcxlms.h>
#include "policy.h"
#include "cxlmsd.h"

#define MAX_CLIENTS	64
#define CLIENT_BUF	(2 * CXLMSD_LINE_MAX)

struct client {
	int fd;
	size_t len;
	char buf[CLIENT_BUF];
};

/* Everything a config turns into; swapped as a whole on reload. */
struct serving {
	struct cxlmsd_config cfg;
	struct cxlms_store *store;
	struct cxlms_policy_writer *w;
	struct cxlmsd_model model;
	struct cxlmsd_ctx_state *cst;
	struct cxlms_policy_ctx *pctx;
	uint8_t *maps;
	unsigned int default_ctx;
	dev_t dev;
	ino_t ino;
	uint64_t generation;
};

struct daemon {
	const char *config_path;
	const char *dropin_dir;
	const char *socket_override;
	bool foreground;
	struct cxlms_ctx *ctx;
	struct serving cur;
	bool serving;
	char default_override[CXLMS_POLICY_NAME_MAX];
	bool dirty;		/* reports not yet in the maps */
	uint64_t load_bytes;	/* since the last tick */
	uint64_t rate;		/* bytes/s over the last interval */
	uint64_t last_tick_ns;	/* CLOCK_MONOTONIC of the last tick */
	/* Kernel store: the device's bytes read at the last tick (STATS). */
	uint64_t dev_read_last;
	bool dev_read_valid;
	int efd, sfd, lfd, tfd;
	dev_t tried_dev;	/* last replaced store file we tried */
	ino_t tried_ino;
	char *socket_path;	/* what we bound, to unlink at exit */
	struct client *clients[MAX_CLIENTS];
	bool stop;
};

static bool use_stderr;

static void logmsg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void logmsg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (use_stderr) {
		fputs("cxlmsd: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		vsyslog(prio, fmt, ap);
	}
	va_end(ap);
}

static void lib_log(struct cxlms_ctx *ctx, int priority, const char *file,
		    int line, const char *fn, const char *format, va_list args)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), format, args);
	logmsg(priority, "libcxlms: %s", msg);
}

/*
 * sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET, so
 * Type=notify units know when the first maps are out and when a reload
 * is done.  Without the variable (not under systemd) it does nothing.
 */
static void notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sa.sun_path))
		return;
	strcpy(sa.sun_path, path);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0) {
		/* systemd gone: nothing to tell */
	}
	close(fd);
}

/* --- building a serving state ------------------------------------------------- */

static void serving_free(struct serving *s)
{
	cxlms_policy_writer_close(s->w);
	cxlms_store_unref(s->store);
	cxlmsd_model_free(&s->model);
	free(s->cst);
	free(s->pctx);
	free(s->maps);
	cxlmsd_config_free(&s->cfg);
	memset(s, 0, sizeof(*s));
}

static unsigned int pick_default(const struct cxlmsd_config *cfg,
				 const char *override)
{
	unsigned int i;

	for (i = 0; i < cfg->n_contexts; i++)
		if (override[0] && !strcmp(cfg->contexts[i].name, override))
			return i;
	for (i = 0; i < cfg->n_contexts; i++)
		if (cfg->default_context && !strcmp(cfg->contexts[i].name, cfg->default_context))
			return i;
	return 0;
}

/* (Re)compute the map of context @i of @s. */
static int compute_one(struct serving *s, unsigned int i)
{
	struct cxlmsd_context *c = &s->cfg.contexts[i];
	char why[256] = "";
	int rc;

	rc = cxlmsd_engine_map(c, &s->model, &s->cst[i],
			       s->maps + (size_t)i * s->model.n_tiles, why, sizeof(why));
	if (rc) {
		logmsg(LOG_ERR, "%s:%d: %s", c->file, c->line,
		       why[0] ? why : strerror(-rc));
		return rc;
	}
	memset(&s->pctx[i], 0, sizeof(s->pctx[i]));
	memcpy(s->pctx[i].name, c->name, strlen(c->name));
	s->pctx[i].mode = (uint32_t)c->mode;
	s->pctx[i].avg_bits_x100 = s->cst[i].avg_x100;
	s->pctx[i].level = s->cst[i].level;
	return 0;
}

static int publish(struct daemon *d, struct serving *s)
{
	int rc = cxlms_policy_writer_publish(s->w, s->cfg.n_contexts, s->default_ctx,
					     s->pctx, s->maps, &s->generation);

	if (rc)
		logmsg(LOG_ERR, "%s: publishing maps failed: %s", s->cfg.store_path,
		       strerror(-rc));
	return rc;
}

/*
 * Turn @cfg into a complete serving state in @s.  @old (may be NULL) lends
 * its store, writer and reported importance when the store is the same
 * file; they move over only when load_and_serve() commits.
 */
static int serving_build(struct daemon *d, struct serving *s,
			 struct cxlmsd_config *cfg, struct serving *old,
			 bool *reuse)
{
	struct stat st;
	unsigned int i, j;
	uint64_t need;
	int rc;

	memset(s, 0, sizeof(*s));
	s->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	if (stat(s->cfg.store_path, &st) < 0) {
		rc = -errno;
		logmsg(LOG_ERR, "%s: %s", s->cfg.store_path, strerror(-rc));
		return rc;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	*reuse = old && old->store && old->dev == st.st_dev && old->ino == st.st_ino;
	if (*reuse) {
		/* Borrowed: same store file, same directory, same lock. */
		s->store = old->store;
		s->w = old->w;
		s->model = old->model;
	} else {
		rc = cxlms_open(d->ctx, s->cfg.store_path, CXLMS_OPEN_RDWR, &s->store);
		if (rc) {
			logmsg(LOG_ERR, "%s: cannot open store: %s", s->cfg.store_path,
			       strerror(-rc));
			return rc;
		}
		rc = cxlms_policy_writer_open(s->store, &s->w);
		if (rc)
			return rc;
		rc = cxlmsd_model_from_store(s->store, &s->model);
		if (!rc)
			rc = cxlmsd_model_energy(s->store, &s->model);
		if (rc)
			return rc;
	}
	need = cxlms_policy_slot_need(s->cfg.n_contexts, s->model.n_tensors,
				      s->model.n_tiles);
	if (need > cxlms_policy_writer_slot_bytes(s->w)) {
		logmsg(LOG_ERR, "%s: %u contexts x %u tiles need %llu bytes, the policy area holds %llu per slot: fewer contexts or a larger area",
		       s->cfg.store_path, s->cfg.n_contexts, s->model.n_tiles,
		       (unsigned long long)need,
		       (unsigned long long)cxlms_policy_writer_slot_bytes(s->w));
		return -ENOSPC;
	}
	s->cst = calloc(s->cfg.n_contexts, sizeof(*s->cst));
	s->pctx = calloc(s->cfg.n_contexts, sizeof(*s->pctx));
	s->maps = malloc((size_t)s->cfg.n_contexts * s->model.n_tiles + 1);
	if (!s->cst || !s->pctx || !s->maps)
		return -ENOMEM;
	/* Pressure levels survive a reload of the same context. */
	for (i = 0; old && i < s->cfg.n_contexts; i++)
		for (j = 0; j < old->cfg.n_contexts; j++)
			if (!strcmp(old->cfg.contexts[j].name, s->cfg.contexts[i].name))
				s->cst[i].level = old->cst[j].level;
	for (i = 0; i < s->cfg.n_contexts; i++) {
		rc = compute_one(s, i);
		if (rc)
			return rc;
	}
	s->default_ctx = pick_default(&s->cfg, d->default_override);
	return 0;
}

/* Drop a failed candidate without touching what it borrowed. */
static void candidate_free(struct serving *s, bool reuse)
{
	if (reuse) {
		s->store = NULL;
		s->w = NULL;
		memset(&s->model, 0, sizeof(s->model));
	}
	serving_free(s);
}

static int load_and_serve(struct daemon *d, bool initial)
{
	struct cxlmsd_config cfg;
	struct serving cand;
	bool reuse = false;
	unsigned int i;
	int rc;

	rc = cxlmsd_config_load(&cfg, d->config_path, d->dropin_dir);
	if (rc) {
		for (i = 0; i < cfg.n_errors; i++)
			logmsg(LOG_ERR, "%s", cfg.errors[i]);
		logmsg(LOG_ERR, "%s: configuration invalid, %s", d->config_path,
		       initial ? "not starting" : "keeping the running policy");
		cxlmsd_config_free(&cfg);
		return rc;
	}
	rc = serving_build(d, &cand, &cfg, d->serving ? &d->cur : NULL, &reuse);
	if (!rc)
		rc = publish(d, &cand);
	if (rc) {
		logmsg(LOG_ERR, "%s: %s", d->config_path, initial ?
		       "cannot serve this configuration, not starting" :
		       "new configuration not applied, keeping the running policy");
		candidate_free(&cand, reuse);
		return rc;
	}
	if (d->serving) {
		if (reuse) {
			/* The candidate owns the borrowed parts now. */
			d->cur.store = NULL;
			d->cur.w = NULL;
			memset(&d->cur.model, 0, sizeof(d->cur.model));
		}
		serving_free(&d->cur);
	}
	d->cur = cand;
	d->serving = true;
	d->dirty = false;
	logmsg(LOG_INFO, "serving %s: %u contexts, default '%s', generation %llu",
	       d->cur.cfg.store_path, d->cur.cfg.n_contexts,
	       d->cur.cfg.contexts[d->cur.default_ctx].name,
	       (unsigned long long)d->cur.generation);
	for (i = 0; i < d->cur.cfg.n_contexts; i++)
		logmsg(LOG_INFO, "context '%s': average %u.%02u bits",
		       d->cur.cfg.contexts[i].name, d->cur.cst[i].avg_x100 / 100,
		       d->cur.cst[i].avg_x100 % 100);
	return 0;
}

/* Recompute every map (after reports) and publish; old maps stay on error. */
static int recompute_all(struct daemon *d)
{
	struct serving *s = &d->cur;
	unsigned int i, nc = s->cfg.n_contexts;
	size_t n = (size_t)nc * s->model.n_tiles;
	uint8_t *maps = malloc(n + 1);
	struct cxlmsd_ctx_state *cst = malloc(nc * sizeof(*cst));
	struct cxlms_policy_ctx *pctx = malloc(nc * sizeof(*pctx));
	int rc = 0;

	if (!maps || !cst || !pctx) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(maps, s->maps, n);
	memcpy(cst, s->cst, nc * sizeof(*cst));
	memcpy(pctx, s->pctx, nc * sizeof(*pctx));
	for (i = 0; i < nc && !rc; i++)
		rc = compute_one(s, i);
	if (!rc)
		rc = publish(d, s);
	if (rc) {
		/* What `show` reports must stay what the engines see. */
		memcpy(s->maps, maps, n);
		memcpy(s->cst, cst, nc * sizeof(*cst));
		memcpy(s->pctx, pctx, nc * sizeof(*pctx));
	} else {
		d->dirty = false;
	}
out:
	free(maps);
	free(cst);
	free(pctx);
	return rc;
}

/* --- the control protocol's actions ---------------------------------------- */

static void op_show(void *arg, FILE *out)
{
	struct daemon *d = arg;
	struct serving *s = &d->cur;
	unsigned int i;

	fprintf(out, "store %s\n", s->cfg.store_path);
	fprintf(out, "generation %llu\n", (unsigned long long)s->generation);
	fprintf(out, "default-context %s\n", s->cfg.contexts[s->default_ctx].name);
	fprintf(out, "tensors %u tiles %u\n", s->model.n_tensors, s->model.n_tiles);
	fprintf(out, "read-rate %llu\n", (unsigned long long)d->rate);
	for (i = 0; i < s->cfg.n_contexts; i++) {
		static const char *const modes[] = { "fixed", "budget", "pressure" };

		fprintf(out, "context %s mode %s avg-bits %u.%02u level %u\n",
			s->cfg.contexts[i].name, modes[s->cfg.contexts[i].mode],
			s->cst[i].avg_x100 / 100, s->cst[i].avg_x100 % 100,
			s->cst[i].level);
	}
}

static int op_set_context(void *arg, const char *name)
{
	struct daemon *d = arg;
	struct serving *s = &d->cur;
	unsigned int i, old = s->default_ctx;

	for (i = 0; i < s->cfg.n_contexts; i++)
		if (!strcmp(s->cfg.contexts[i].name, name))
			break;
	if (i == s->cfg.n_contexts)
		return -ENOENT;
	s->default_ctx = i;
	if (publish(d, s)) {
		s->default_ctx = old;
		return -EIO;
	}
	snprintf(d->default_override, sizeof(d->default_override), "%s", name);
	logmsg(LOG_INFO, "default context now '%s' (generation %llu)", name,
	       (unsigned long long)s->generation);
	return 0;
}

static int op_report(void *arg, const char *tensor, long tile, double imp)
{
	struct daemon *d = arg;
	struct cxlmsd_model *m = &d->cur.model;
	unsigned int n, k;
	long g;

	g = cxlmsd_model_tile(m, tensor, tile < 0 ? 0 : (unsigned int)tile, &n);
	if (g < 0)
		return (int)g;
	if (tile < 0)
		for (k = 0; k < n; k++)
			m->importance[g + k] = imp;
	else
		m->importance[g] = imp;
	d->dirty = true;
	return 0;
}

static int op_load(void *arg, uint64_t bytes)
{
	struct daemon *d = arg;

	if (d->load_bytes + bytes < d->load_bytes)
		return -ERANGE;
	d->load_bytes += bytes;
	return 0;
}

static int op_sync(void *arg, uint64_t *gen)
{
	struct daemon *d = arg;
	int rc = d->dirty ? recompute_all(d) : 0;

	*gen = d->cur.generation;
	return rc;
}

/* --- pressure sampling ----------------------------------------------------- */

static int arm_timer(struct daemon *d)
{
	struct itimerspec its = { 0 };
	unsigned int ms = d->cur.cfg.interval_ms;

	its.it_interval.tv_sec = ms / 1000;
	its.it_interval.tv_nsec = (long)(ms % 1000) * 1000000;
	its.it_value = its.it_interval;
	return timerfd_settime(d->tfd, 0, &its, NULL);
}

/*
 * A store replaced under us (re-import renames a new file over the path)
 * has a fresh, empty policy area: serve the new file, as a SIGHUP would.
 * Tried once per new file, so a bad config does not flood the log.
 */
static void check_store_replaced(struct daemon *d)
{
	struct stat st;

	if (stat(d->cur.cfg.store_path, &st) < 0 ||
	    (st.st_dev == d->cur.dev && st.st_ino == d->cur.ino) ||
	    (st.st_dev == d->tried_dev && st.st_ino == d->tried_ino))
		return;
	d->tried_dev = st.st_dev;
	d->tried_ino = st.st_ino;
	logmsg(LOG_INFO, "%s: store file replaced, reloading", d->cur.cfg.store_path);
	if (!load_and_serve(d, false))
		arm_timer(d);
}

/*
 * A kernel store counts every process's reads itself: add the device's
 * bytes read since the last tick to what engines reported.  A counter
 * reset (STATS_RESET) just restarts the sampling.
 */
static void sample_device(struct daemon *d)
{
	struct cxlms_stats st;
	uint64_t sum;
	unsigned int i;

	if (!d->cur.store || strcmp(cxlms_store_get_backend(d->cur.store), "kernel") ||
	    cxlms_store_get_stats(d->cur.store, &st)) {
		d->dev_read_valid = false;
		return;
	}
	sum = st.side_bytes;
	for (i = 0; i < CXLMS_MAX_PLANES; i++)
		sum += st.plane_bytes[i];
	if (d->dev_read_valid && sum >= d->dev_read_last)
		d->load_bytes += sum - d->dev_read_last;
	d->dev_read_last = sum;
	d->dev_read_valid = true;
}

static void tick(struct daemon *d)
{
	struct serving *s = &d->cur;
	bool changed = false;
	unsigned int i;

	struct timespec now;
	uint64_t ns;

	check_store_replaced(d);
	sample_device(d);

	/* The time that really passed: a late tick must not inflate the rate. */
	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	if (ns > d->last_tick_ns && d->last_tick_ns)
		d->rate = (uint64_t)((unsigned __int128)d->load_bytes * 1000000000u /
				     (ns - d->last_tick_ns));
	d->last_tick_ns = ns;
	d->load_bytes = 0;
	for (i = 0; i < s->cfg.n_contexts; i++) {
		struct cxlmsd_context *c = &s->cfg.contexts[i];
		struct cxlmsd_ctx_state *st = &s->cst[i];

		if (c->mode != CXLMSD_MODE_PRESSURE)
			continue;
		/* Two thresholds: between them the level holds (hysteresis). */
		if (d->rate > c->pressure_high && st->level < st->max_level) {
			st->level++;
			changed = true;
		} else if (d->rate < c->pressure_low && st->level > 0) {
			st->level--;
			changed = true;
		} else {
			continue;
		}
		logmsg(LOG_INFO, "context '%s': read rate %llu B/s, pressure level %u",
		       c->name, (unsigned long long)d->rate, st->level);
	}
	if (changed || d->dirty)
		recompute_all(d);
}

/* --- sockets ----------------------------------------------------------------- */

static int open_socket(struct daemon *d)
{
	const char *path = d->socket_override ? d->socket_override : d->cur.cfg.socket_path;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN };
	struct stat st;
	char *dir, *slash;
	int fd;

	if (path[0] != '/') {
		logmsg(LOG_ERR, "socket %s: must be an absolute path", path);
		return -EINVAL;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		logmsg(LOG_ERR, "socket %s: path too long", path);
		return -ENAMETOOLONG;
	}
	dir = strdup(path);
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			logmsg(LOG_ERR, "%s: %s", dir, strerror(errno));
	}
	free(dir);
	/* A socket left by a crashed daemon: the flock says nobody owns it. */
	if (!lstat(path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			logmsg(LOG_ERR, "socket %s: exists and is not a socket", path);
			return -EEXIST;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	strcpy(sa.sun_path, path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, d->cur.cfg.socket_mode) < 0 || listen(fd, 16) < 0) {
		int err = -errno;

		logmsg(LOG_ERR, "socket %s: %s", path, strerror(-err));
		close(fd);
		return err;
	}
	if (d->cur.cfg.socket_group) {
		struct group *gr = getgrnam(d->cur.cfg.socket_group);

		/* Engines in this group may steer the daemon; nobody else. */
		if (!gr || chown(path, (uid_t)-1, gr->gr_gid) < 0) {
			logmsg(LOG_ERR, "socket %s: group %s: %s", path,
			       d->cur.cfg.socket_group, gr ? strerror(errno) : "no such group");
			close(fd);
			unlink(path);
			return -EINVAL;
		}
	}
	d->socket_path = strdup(path);
	d->lfd = fd;
	ev.data.fd = fd;
	return epoll_ctl(d->efd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void client_close(struct daemon *d, unsigned int i)
{
	epoll_ctl(d->efd, EPOLL_CTL_DEL, d->clients[i]->fd, NULL);
	close(d->clients[i]->fd);
	free(d->clients[i]);
	d->clients[i] = NULL;
}

static void client_accept(struct daemon *d)
{
	struct epoll_event ev = { .events = EPOLLIN };
	unsigned int i;
	int fd;

	fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (i = 0; i < MAX_CLIENTS && d->clients[i]; i++)
		;
	if (i == MAX_CLIENTS) {
		static const char busy[] = "err EBUSY too many clients\n";

		if (write(fd, busy, sizeof(busy) - 1) < 0) {
			/* closing anyway */
		}
		close(fd);
		return;
	}
	d->clients[i] = calloc(1, sizeof(*d->clients[i]));
	if (!d->clients[i]) {
		close(fd);
		return;
	}
	d->clients[i]->fd = fd;
	ev.data.u64 = (1ull << 32) | i;
	if (epoll_ctl(d->efd, EPOLL_CTL_ADD, fd, &ev) < 0)
		client_close(d, i);
}

/* Reply in one write; a client that cannot take a few KiB is dropped. */
static bool client_reply(struct client *c, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(c->fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

static void client_input(struct daemon *d, unsigned int i)
{
	struct cxlmsd_ops ops = {
		.arg = d, .show = op_show, .set_context = op_set_context,
		.report = op_report, .load = op_load, .sync = op_sync,
	};
	struct client *c = d->clients[i];
	char *nl, *reply = NULL;
	size_t rlen = 0;
	ssize_t n;
	FILE *out;

	n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		client_close(d, i);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	while ((nl = memchr(c->buf, '\n', c->len))) {
		bool ok;
		bool has_nul = memchr(c->buf, '\0', (size_t)(nl - c->buf)) != NULL;

		*nl = '\0';
		if (nl > c->buf && nl[-1] == '\r')
			nl[-1] = '\0';
		out = open_memstream(&reply, &rlen);
		if (!out) {
			client_close(d, i);
			return;
		}
		if (has_nul)
			fputs("err EINVAL NUL byte in request\n", out);
		else
			cxlmsd_control_line(&ops, c->buf, out);
		fclose(out);
		ok = client_reply(c, reply, rlen);
		free(reply);
		reply = NULL;
		c->len -= (size_t)(nl + 1 - c->buf);
		memmove(c->buf, nl + 1, c->len);
		if (!ok) {
			client_close(d, i);
			return;
		}
	}
	if (c->len >= CXLMSD_LINE_MAX) {
		static const char big[] = "err E2BIG request line too long\n";

		client_reply(c, big, sizeof(big) - 1);
		client_close(d, i);
	}
}

/* --- main ---------------------------------------------------------------------- */

static int check_config(struct daemon *d)
{
	struct cxlmsd_config cfg;
	struct cxlms_store *store = NULL;
	struct cxlmsd_model m;
	unsigned int i;
	int rc;

	rc = cxlmsd_config_load(&cfg, d->config_path, d->dropin_dir);
	for (i = 0; i < cfg.n_errors; i++)
		fprintf(stderr, "%s\n", cfg.errors[i]);
	if (rc) {
		cxlmsd_config_free(&cfg);
		return 1;
	}
	/* Store-dependent checks (budgets vs bounds) when the store is there. */
	rc = cxlms_open(d->ctx, cfg.store_path, 0, &store);
	if (rc) {
		printf("%s: configuration valid; store not checked (%s)\n",
		       d->config_path, strerror(-rc));
		cxlmsd_config_free(&cfg);
		return 0;
	}
	rc = cxlmsd_model_from_store(store, &m);
	if (!rc)
		rc = cxlmsd_model_energy(store, &m);
	for (i = 0; !rc && i < cfg.n_contexts; i++) {
		struct cxlmsd_ctx_state st = { 0 };
		uint8_t *map = malloc(m.n_tiles + 1);
		char why[256] = "";

		rc = map ? cxlmsd_engine_map(&cfg.contexts[i], &m, &st, map, why,
					     sizeof(why)) : -ENOMEM;
		if (rc)
			fprintf(stderr, "%s:%d: %s\n", cfg.contexts[i].file,
				cfg.contexts[i].line, why[0] ? why : strerror(-rc));
		else
			printf("context %s: average %u.%02u bits over %u tiles\n",
			       cfg.contexts[i].name, st.avg_x100 / 100,
			       st.avg_x100 % 100, m.n_tiles);
		free(map);
	}
	if (!rc)
		printf("%s: configuration valid for %s\n", d->config_path, cfg.store_path);
	cxlmsd_model_free(&m);
	cxlms_store_unref(store);
	cxlmsd_config_free(&cfg);
	return rc ? 1 : 0;
}

static void usage(FILE *f)
{
	fputs("usage: cxlmsd [-c FILE] [-d DIR] [-s SOCKET] [-f] [--check-config]\n"
	      "Serve context-dependent precision maps for a cxlms store.\n"
	      "  -c, --config FILE   main config (default " CXLMSD_DEFAULT_CONFIG ")\n"
	      "  -d, --config-dir DIR drop-ins, *.conf in name order (default FILE.d)\n"
	      "  -s, --socket PATH   control socket (overrides [daemon] socket)\n"
	      "  -f, --foreground    log to stderr instead of syslog\n"
	      "      --check-config  parse, validate (and check against the store), exit\n"
	      "  -h, --help          this help\n"
	      "Signals: SIGHUP reloads (a bad config keeps the running policy),\n"
	      "SIGTERM/SIGINT stop.  See cxlmsd(8), cxlmsd.conf(5).\n", f);
}

/* Signals arrive here as data, in the loop: no work in a handler. */
static void handle_signals(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			logmsg(LOG_INFO, "SIGHUP: reloading %s", d->config_path);
			notify("RELOADING=1");
			if (!load_and_serve(d, false))
				arm_timer(d);
			notify("READY=1");
		} else {
			logmsg(LOG_INFO, "signal %u: exiting", si.ssi_signo);
			notify("STOPPING=1");
			d->stop = true;
		}
	}
}

static int run(struct daemon *d)
{
	struct epoll_event ev = { .events = EPOLLIN }, evs[16];
	sigset_t mask;
	int n, i, rc;

	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	/* Blocked before anything else, so no signal is lost or handled late. */
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	d->efd = epoll_create1(EPOLL_CLOEXEC);
	d->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d->sfd < 0 || d->efd < 0 || d->tfd < 0)
		return -errno;
	rc = load_and_serve(d, true);
	if (rc)
		return rc;
	rc = open_socket(d);
	if (rc)
		return rc;
	ev.data.fd = d->sfd;
	epoll_ctl(d->efd, EPOLL_CTL_ADD, d->sfd, &ev);
	ev.data.fd = d->tfd;
	epoll_ctl(d->efd, EPOLL_CTL_ADD, d->tfd, &ev);
	if (arm_timer(d) < 0)
		return -errno;
	logmsg(LOG_INFO, "listening on %s", d->socket_path);
	notify("READY=1");

	while (!d->stop) {
		n = epoll_wait(d->efd, evs, 16, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (i = 0; i < n; i++) {
			uint64_t u = evs[i].data.u64;

			if (u >> 32) {
				unsigned int ci = (unsigned int)u;

				if (d->clients[ci])
					client_input(d, ci);
			} else if ((int)u == d->sfd) {
				handle_signals(d);
			} else if ((int)u == d->tfd) {
				uint64_t exp;

				if (read(d->tfd, &exp, sizeof(exp)) == sizeof(exp))
					tick(d);
			} else if ((int)u == d->lfd) {
				client_accept(d);
			}
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "config-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "check-config", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct daemon d = { .config_path = CXLMSD_DEFAULT_CONFIG, .efd = -1,
			    .sfd = -1, .lfd = -1, .tfd = -1 };
	bool check = false;
	unsigned int i;
	int c, rc;

	while ((c = getopt_long(argc, argv, "c:d:s:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_path = optarg;
			break;
		case 'd':
			d.dropin_dir = optarg;
			break;
		case 's':
			d.socket_override = optarg;
			break;
		case 'f':
			d.foreground = true;
			break;
		case 'C':
			check = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	use_stderr = d.foreground || check;
	if (!use_stderr)
		openlog("cxlmsd", LOG_PID, LOG_DAEMON);
	rc = cxlms_new(&d.ctx);
	if (rc) {
		logmsg(LOG_ERR, "cxlms_new: %s", strerror(-rc));
		return 1;
	}
	cxlms_set_log_fn(d.ctx, lib_log);
	if (check) {
		rc = check_config(&d);
		cxlms_unref(d.ctx);
		return rc;
	}
	rc = run(&d);
	if (rc)
		logmsg(LOG_ERR, "exiting: %s", strerror(-rc));
	for (i = 0; i < MAX_CLIENTS; i++)
		if (d.clients[i])
			client_close(&d, i);
	if (d.socket_path) {
		unlink(d.socket_path);
		free(d.socket_path);
	}
	if (d.serving)
		serving_free(&d.cur);
	cxlms_unref(d.ctx);
	return rc ? 1 : 0;
}
