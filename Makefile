# Installs what `cargo build --workspace` built, plus the system integration files.
#
#   make install DESTDIR=/tmp/root                        # debug build from target/debug
#   make install DESTDIR=${D} TARGET_DIR=<cargo output>    # e.g. from a Yocto recipe
#   make install-model MODEL_DIR=model/bundles/smollm2-135m-toolcall-q4 MODEL_NAME=default
#   make install-encoder                                   # retrieval's sentence encoder
#   make check-units                                       # systemd-analyze verify + security
#
# `install` never runs cargo: build first (`cargo build --workspace`, or the recipe's build).
# Paths in the units and activation files (/usr/bin/toolcalld) and the configuration's
# model_dir follow BINDIR and MODELDIR. The daemon always reads /etc/toolcalld/toolcalld.toml
# unless given --config: with another SYSCONFDIR, add --config in a unit drop-in.

PREFIX      ?= /usr
SYSCONFDIR  ?= /etc
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
DATADIR     ?= $(PREFIX)/share
# Not under LIBDIR: these are architecture-independent (/usr/lib even where LIBDIR is lib64).
SYSTEMD_SYSTEM_UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSTEMD_USER_UNITDIR   ?= $(PREFIX)/lib/systemd/user
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DBUSDIR     ?= $(DATADIR)/dbus-1
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MODELDIR    ?= $(DATADIR)/toolcalld/models
MANDIR      ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR  ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
TARGET_DIR  ?= target/debug

MODEL_DIR   ?= model/bundles/smollm2-135m-toolcall-q4
MODEL_NAME  ?= default
# The sentence encoder set-up writes (model/scripts/fetch_encoder.py), and where the daemon's
# default retrieval_encoder looks for it.
ENCODER_DIR ?= model/encoders/minilm-l6-int8
ENCODERDIR  ?= $(DATADIR)/toolcalld/encoders/minilm-l6-int8

INSTALL ?= install
SYSTEMD_ANALYZE ?= systemd-analyze
# Exposure x 10 that `systemd-analyze security` may not exceed (measured: 0.2; see README).
SECURITY_THRESHOLD ?= 2

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
SONAME  := libtoolcall.so.0
BUS_NAME := org.toolcalld.ToolCall1

# Man pages and completions, generated from the code and committed (tests/src/manuals.rs).
MAN1 := $(wildcard docs/man/*.1)
MAN5 := $(wildcard docs/man/*.5)
MAN8 := $(wildcard docs/man/*.8)

# Rewrites the default paths in the shipped files to the configured ones.
SUBST = sed -e 's|/usr/bin/toolcalld|$(BINDIR)/toolcalld|g' \
            -e 's|/usr/share/toolcalld/models|$(MODELDIR)|g'

.PHONY: all install install-bin install-lib install-data install-model install-encoder check-units uninstall

all:
	@echo "make install [DESTDIR=...] [TARGET_DIR=$(TARGET_DIR)]; build with cargo first"

install: install-bin install-lib install-data

install-bin:
	@for f in toolcalld toolcallctl; do \
	  test -x $(TARGET_DIR)/$$f || { echo "$(TARGET_DIR)/$$f missing: run cargo build --workspace (or set TARGET_DIR)" >&2; exit 1; }; \
	done
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 0755 $(TARGET_DIR)/toolcalld $(TARGET_DIR)/toolcallctl $(DESTDIR)$(BINDIR)/

install-lib:
	@test -f $(TARGET_DIR)/libtoolcall_client.so || { echo "$(TARGET_DIR)/libtoolcall_client.so missing: run cargo build --workspace (or set TARGET_DIR)" >&2; exit 1; }
	$(INSTALL) -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	$(INSTALL) -m 0755 $(TARGET_DIR)/libtoolcall_client.so $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libtoolcall.so
	$(INSTALL) -m 0644 client-lib/include/toolcall.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    client-lib/toolcall.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/toolcall.pc
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/toolcall.pc

install-data:
	$(INSTALL) -d $(DESTDIR)$(SYSTEMD_SYSTEM_UNITDIR) $(DESTDIR)$(SYSTEMD_USER_UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(DBUSDIR)/system.d \
	    $(DESTDIR)$(DBUSDIR)/system-services $(DESTDIR)$(DBUSDIR)/services \
	    $(DESTDIR)$(DBUSDIR)/interfaces $(DESTDIR)$(SYSCONFDIR)/toolcalld
	$(SUBST) systemd/toolcalld.service > $(DESTDIR)$(SYSTEMD_SYSTEM_UNITDIR)/toolcalld.service
	$(SUBST) systemd/user/toolcalld.service > $(DESTDIR)$(SYSTEMD_USER_UNITDIR)/toolcalld.service
	$(SUBST) dbus-interfaces/activation/system/$(BUS_NAME).service > $(DESTDIR)$(DBUSDIR)/system-services/$(BUS_NAME).service
	$(SUBST) dbus-interfaces/activation/session/$(BUS_NAME).service > $(DESTDIR)$(DBUSDIR)/services/$(BUS_NAME).service
	$(SUBST) daemon/toolcalld.toml > $(DESTDIR)$(SYSCONFDIR)/toolcalld/toolcalld.toml
	chmod 0644 $(DESTDIR)$(SYSTEMD_SYSTEM_UNITDIR)/toolcalld.service \
	    $(DESTDIR)$(SYSTEMD_USER_UNITDIR)/toolcalld.service \
	    $(DESTDIR)$(DBUSDIR)/system-services/$(BUS_NAME).service \
	    $(DESTDIR)$(DBUSDIR)/services/$(BUS_NAME).service \
	    $(DESTDIR)$(SYSCONFDIR)/toolcalld/toolcalld.toml
	$(INSTALL) -m 0644 systemd/sysusers.d/toolcalld.conf $(DESTDIR)$(SYSUSERSDIR)/toolcalld.conf
	$(INSTALL) -D -m 0644 systemd/escalation.conf $(DESTDIR)$(DATADIR)/toolcalld/escalation.conf
	$(INSTALL) -m 0644 dbus-interfaces/$(BUS_NAME).conf $(DESTDIR)$(DBUSDIR)/system.d/
	$(INSTALL) -m 0644 dbus-interfaces/xml/*.xml $(DESTDIR)$(DBUSDIR)/interfaces/
	$(INSTALL) -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	$(INSTALL) -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 completions/toolcallctl.bash $(DESTDIR)$(BASHCOMPDIR)/toolcallctl
	$(INSTALL) -m 0644 completions/_toolcallctl $(DESTDIR)$(ZSHCOMPDIR)/_toolcallctl
	$(INSTALL) -m 0644 completions/toolcallctl.fish $(DESTDIR)$(FISHCOMPDIR)/toolcallctl.fish

# A model bundle: bundle.json and the files model/'s exporter writes, which bundle.json lists
# with their sha256 (the daemon checks them at start-up).
BUNDLE_FILES = bundle.json model.onnx model.onnx.data embedding.bin tokenizer.json
install-model:
	@for f in $(BUNDLE_FILES); do \
	  test -f $(MODEL_DIR)/$$f || { echo "$(MODEL_DIR)/$$f missing: run scripts/setup.sh or set MODEL_DIR" >&2; exit 1; }; \
	done
	$(INSTALL) -d $(DESTDIR)$(MODELDIR)/$(MODEL_NAME)
	$(INSTALL) -m 0644 $(addprefix $(MODEL_DIR)/,$(BUNDLE_FILES)) $(DESTDIR)$(MODELDIR)/$(MODEL_NAME)/

# Retrieval's sentence encoder (all-MiniLM-L6-v2, int8, Apache-2.0; docs/REGISTRY.md). Without
# it the daemon ranks long tool lists with BM25 alone. The daemon looks in
# /usr/share/toolcalld/encoders/minilm-l6-int8: with another ENCODERDIR, set retrieval_encoder.
ENCODER_FILES = model.onnx tokenizer.json
install-encoder:
	@for f in $(ENCODER_FILES); do \
	  test -f $(ENCODER_DIR)/$$f || { echo "$(ENCODER_DIR)/$$f missing: run scripts/setup.sh or set ENCODER_DIR" >&2; exit 1; }; \
	done
	$(INSTALL) -d $(DESTDIR)$(ENCODERDIR)
	$(INSTALL) -m 0644 $(addprefix $(ENCODER_DIR)/,$(ENCODER_FILES)) $(DESTDIR)$(ENCODERDIR)/

# systemd-analyze on the units as installed: `verify` (syntax, values, executables) of the
# system unit in a scratch root holding this install plus the host's own units (verify needs
# sysinit.target, dbus.socket, ... and /bin/kill for ExecReload=); of the user unit by path
# (systemd 252 cannot combine --user with --root); then `security` of the system unit, which
# fails above SECURITY_THRESHOLD. Warnings (unknown keys, bad values) count as failures.
# tests/tests/units.rs runs the same checks.
check-units:
	@set -e; root=$$(mktemp -d); trap 'rm -rf "$$root"' EXIT; \
	$(MAKE) --no-print-directory install-bin install-data DESTDIR=$$root/sysroot >/dev/null; \
	sys=$$root/sysroot; units=$$sys$(SYSTEMD_SYSTEM_UNITDIR); \
	for d in /usr/lib/systemd/system /lib/systemd/system; do \
	  if [ -d $$d ]; then cp -an $$d/. $$units/; fi; \
	done; \
	test -e $$sys/bin || ln -s usr/bin $$sys/bin; \
	mkdir -p $$sys/usr/bin; test -e $$sys/usr/bin/kill || cp /bin/kill $$sys/usr/bin/kill; \
	out=$$($(SYSTEMD_ANALYZE) verify --root=$$sys toolcalld.service 2>&1) || { echo "$$out"; exit 1; }; \
	if echo "$$out" | grep toolcalld; then exit 1; fi; \
	echo "verify toolcalld.service (system): ok"; \
	mkdir -m 0700 $$root/runtime; \
	sed 's|$(BINDIR)/toolcalld|'$$sys'$(BINDIR)/toolcalld|' $$sys$(SYSTEMD_USER_UNITDIR)/toolcalld.service \
	    > $$root/toolcalld.service; \
	out=$$(XDG_RUNTIME_DIR=$$root/runtime $(SYSTEMD_ANALYZE) verify --user $$root/toolcalld.service 2>&1) \
	    || { echo "$$out"; exit 1; }; \
	if echo "$$out" | grep toolcalld; then exit 1; fi; \
	echo "verify toolcalld.service (user): ok"; \
	rc=0; out=$$($(SYSTEMD_ANALYZE) security --offline=yes --no-pager --root=$$sys \
	    --threshold=$(SECURITY_THRESHOLD) toolcalld.service 2>&1) || rc=$$?; \
	echo "$$out" | tail -n 1; \
	if [ $$rc -ne 0 ]; then echo "$$out"; echo "exposure above SECURITY_THRESHOLD=$(SECURITY_THRESHOLD) (x 10)" >&2; exit 1; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/toolcalld $(DESTDIR)$(BINDIR)/toolcallctl \
	    $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libtoolcall.so \
	    $(DESTDIR)$(INCLUDEDIR)/toolcall.h $(DESTDIR)$(PKGCONFIGDIR)/toolcall.pc \
	    $(DESTDIR)$(SYSTEMD_SYSTEM_UNITDIR)/toolcalld.service \
	    $(DESTDIR)$(SYSTEMD_USER_UNITDIR)/toolcalld.service \
	    $(DESTDIR)$(SYSUSERSDIR)/toolcalld.conf \
	    $(DESTDIR)$(DBUSDIR)/system.d/$(BUS_NAME).conf \
	    $(DESTDIR)$(DBUSDIR)/system-services/$(BUS_NAME).service \
	    $(DESTDIR)$(DBUSDIR)/services/$(BUS_NAME).service \
	    $(DESTDIR)$(DBUSDIR)/interfaces/$(BUS_NAME).xml \
	    $(DESTDIR)$(DBUSDIR)/interfaces/$(BUS_NAME).Toolset.xml \
	    $(DESTDIR)$(DBUSDIR)/interfaces/$(BUS_NAME).Session.xml \
	    $(DESTDIR)$(DBUSDIR)/interfaces/$(BUS_NAME).Registry.xml \
	    $(DESTDIR)$(DBUSDIR)/interfaces/org.toolcalld.ToolProvider1.xml \
	    $(DESTDIR)$(DATADIR)/toolcalld/escalation.conf \
	    $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1))) \
	    $(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(MAN5))) \
	    $(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(MAN8))) \
	    $(DESTDIR)$(BASHCOMPDIR)/toolcallctl $(DESTDIR)$(ZSHCOMPDIR)/_toolcallctl \
	    $(DESTDIR)$(FISHCOMPDIR)/toolcallctl.fish
	@echo "left in place: $(SYSCONFDIR)/toolcalld/toolcalld.toml, $(MODELDIR) and $(ENCODERDIR)"
