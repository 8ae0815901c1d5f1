# make install / make uninstall: the GNU directory variables, DESTDIR for
# staged installs (packages, tests/integ/install.sh).  Included by the
# Makefile after every fragment (it names their targets); the variables
# themselves are set at the top of the Makefile.
#
#   $(bindir)/cxlms            $(sbindir)/cxlmsd
#   $(libdir)/libcxlms.so.1.M.0, libcxlms.so.1 (SONAME), libcxlms.so, libcxlms.a
#   $(libdir)/pkgconfig/libcxlms.pc
#   $(includedir)/libcxlms.h   $(includedir)/cxlms/linux/cxlms.h (the UAPI;
#                              the .pc's Cflags add -I$(includedir)/cxlms)
#   $(man1dir)/cxlms.1  $(man5dir)/cxlmsd.conf.5  $(man8dir)/cxlmsd.8
#   $(systemdunitdir)/cxlmsd.service (paths rewritten to sbindir/sysconfdir)
#   $(sysconfdir)/cxlms/cxlmsd.conf (only if absent: a user's config is kept)
#   $(sysconfdir)/cxlms/cxlmsd.conf.d/50-local.conf.example (inert: not *.conf)

INSTALL         ?= install
INSTALL_PROGRAM ?= $(INSTALL)
INSTALL_DATA    ?= $(INSTALL) -m 0644

LIBCXLMS_SO_REAL := libcxlms.so.$(LIBCXLMS_VERSION).0
CXLMS_CONF_DIR   := $(sysconfdir)/cxlms

INSTALL_TARGETS := $(CXLMS_CLI) $(CXLMSD) $(LIBCXLMS_A) $(LIBCXLMS_SO) $(LIBCXLMS_PC)

.PHONY: install uninstall
install: $(INSTALL_TARGETS)
	$(INSTALL) -d $(DESTDIR)$(bindir) $(DESTDIR)$(sbindir) $(DESTDIR)$(libdir)/pkgconfig \
		$(DESTDIR)$(includedir)/cxlms/linux $(DESTDIR)$(man1dir) $(DESTDIR)$(man5dir) \
		$(DESTDIR)$(man8dir) $(DESTDIR)$(systemdunitdir) $(DESTDIR)$(CXLMS_CONF_DIR)/cxlmsd.conf.d
	$(INSTALL_PROGRAM) $(CXLMS_CLI) $(DESTDIR)$(bindir)/cxlms
	$(INSTALL_PROGRAM) $(CXLMSD) $(DESTDIR)$(sbindir)/cxlmsd
	$(INSTALL_PROGRAM) $(LIBCXLMS_SO) $(DESTDIR)$(libdir)/$(LIBCXLMS_SO_REAL)
	ln -sf $(LIBCXLMS_SO_REAL) $(DESTDIR)$(libdir)/libcxlms.so.1
	ln -sf libcxlms.so.1 $(DESTDIR)$(libdir)/libcxlms.so
	$(INSTALL_DATA) $(LIBCXLMS_A) $(DESTDIR)$(libdir)/libcxlms.a
	$(INSTALL_DATA) $(LIBCXLMS_PC) $(DESTDIR)$(libdir)/pkgconfig/libcxlms.pc
	$(INSTALL_DATA) lib/libcxlms.h $(DESTDIR)$(includedir)/libcxlms.h
	$(INSTALL_DATA) include/uapi/linux/cxlms.h $(DESTDIR)$(includedir)/cxlms/linux/cxlms.h
	$(INSTALL_DATA) docs/cxlms.1 $(DESTDIR)$(man1dir)/cxlms.1
	$(INSTALL_DATA) docs/cxlmsd.conf.5 $(DESTDIR)$(man5dir)/cxlmsd.conf.5
	$(INSTALL_DATA) docs/cxlmsd.8 $(DESTDIR)$(man8dir)/cxlmsd.8
	sed -e 's|/usr/local/sbin/cxlmsd|$(sbindir)/cxlmsd|g' \
	    -e 's|/etc/cxlms/|$(CXLMS_CONF_DIR)/|g' daemon/cxlmsd.service \
		> $(DESTDIR)$(systemdunitdir)/cxlmsd.service
	chmod 0644 $(DESTDIR)$(systemdunitdir)/cxlmsd.service
	@if [ -e $(DESTDIR)$(CXLMS_CONF_DIR)/cxlmsd.conf ]; then \
		echo "keeping existing $(DESTDIR)$(CXLMS_CONF_DIR)/cxlmsd.conf"; \
	else \
		echo "$(INSTALL_DATA) docs/examples/cxlmsd.conf $(DESTDIR)$(CXLMS_CONF_DIR)/cxlmsd.conf"; \
		$(INSTALL_DATA) docs/examples/cxlmsd.conf $(DESTDIR)$(CXLMS_CONF_DIR)/cxlmsd.conf; \
	fi
	$(INSTALL_DATA) docs/examples/50-local.conf \
		$(DESTDIR)$(CXLMS_CONF_DIR)/cxlmsd.conf.d/50-local.conf.example

# Removes what install put there; the config only if nobody changed it.
uninstall:
	rm -f $(DESTDIR)$(bindir)/cxlms $(DESTDIR)$(sbindir)/cxlmsd \
	      $(DESTDIR)$(libdir)/$(LIBCXLMS_SO_REAL) $(DESTDIR)$(libdir)/libcxlms.so.1 \
	      $(DESTDIR)$(libdir)/libcxlms.so $(DESTDIR)$(libdir)/libcxlms.a \
	      $(DESTDIR)$(libdir)/pkgconfig/libcxlms.pc $(DESTDIR)$(includedir)/libcxlms.h \
	      $(DESTDIR)$(includedir)/cxlms/linux/cxlms.h $(DESTDIR)$(man1dir)/cxlms.1 \
	      $(DESTDIR)$(man5dir)/cxlmsd.conf.5 $(DESTDIR)$(man8dir)/cxlmsd.8 \
	      $(DESTDIR)$(systemdunitdir)/cxlmsd.service \
	      $(DESTDIR)$(CXLMS_CONF_DIR)/cxlmsd.conf.d/50-local.conf.example
	@if cmp -s docs/examples/cxlmsd.conf $(DESTDIR)$(CXLMS_CONF_DIR)/cxlmsd.conf; then \
		rm -f $(DESTDIR)$(CXLMS_CONF_DIR)/cxlmsd.conf; \
	elif [ -e $(DESTDIR)$(CXLMS_CONF_DIR)/cxlmsd.conf ]; then \
		echo "keeping modified $(DESTDIR)$(CXLMS_CONF_DIR)/cxlmsd.conf"; \
	fi
	-rmdir $(DESTDIR)$(includedir)/cxlms/linux $(DESTDIR)$(includedir)/cxlms \
	       $(DESTDIR)$(CXLMS_CONF_DIR)/cxlmsd.conf.d $(DESTDIR)$(CXLMS_CONF_DIR) 2>/dev/null
