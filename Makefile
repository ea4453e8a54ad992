# patchkeeper: release build, man page, shell completions, install and a Debian package.
#
#   make                                   build, man page and completions (generated files in dist/)
#   make install PREFIX=/usr/local DESTDIR=   install them, the systemd units, hooks and docs
#   make deb                               dist/patchkeeper_VERSION_ARCH.deb (dpkg-deb; Debian 12)
#   make check                             swift test and contrib/tests/run-hooks.sh
#   make clean                             remove dist/ (not .build/)
#
# The binary links the Swift runtime statically (--static-swift-stdlib): it needs libgit2 and the
# C/C++ runtime only, not a Swift toolchain. See docs/OPERATIONS.md.

SWIFT      ?= swift
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
BASHDIR    ?= $(PREFIX)/share/bash-completion/completions
ZSHDIR     ?= $(PREFIX)/share/zsh/site-functions
FISHDIR    ?= $(PREFIX)/share/fish/vendor_completions.d
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR     ?= $(PREFIX)/share/doc/patchkeeper
DATADIR    ?= $(PREFIX)/share/patchkeeper

BUILD_FLAGS ?= -c release --static-swift-stdlib
BIN         := .build/release/patchkeeper
DIST        := dist
# generate-manual's output (the plugin names the directory after the executable target).
MAN_OUT     := .build/plugins/GenerateManual/outputs/patchkeeper/patchkeeper.1
# The man page's date: the last commit's, so the page does not change with every build.
MAN_DATE    ?= $(shell git log -1 --format=%cs 2>/dev/null || date +%F)
MAINTAINER  ?= patchkeeper maintainers <root@localhost>
DEBROOT     := $(DIST)/deb/root

.PHONY: all build man completions install install-files deb check clean

all: build man completions

# SwiftPM (6.3) can reuse a release build plan made without --static-swift-stdlib (e.g. by a
# plugin's release build) and link dynamically; when the binary needs libswift*.so, the plan is
# dropped and the binary linked again.
build:
	$(SWIFT) build $(BUILD_FLAGS)
ifneq (,$(findstring static-swift-stdlib,$(BUILD_FLAGS)))
	@if readelf -d $(BIN) | grep -q 'NEEDED.*libswift'; then \
	    echo "make: $(BIN) links the Swift runtime dynamically (stale build plan); linking it again"; \
	    rm -f .build/release.yaml .build/release/description.json $(BIN); \
	    $(SWIFT) build $(BUILD_FLAGS); \
	    ! readelf -d $(BIN) | grep 'NEEDED.*libswift'; \
	fi
endif

# argument-parser's GenerateManual plugin. --configuration debug: it builds the package first, and
# a release build of its own would replace the static binary above. Blank lines become .Pp so
# mandoc/groff show paragraphs instead of warning about them.
man:
	$(SWIFT) package --allow-writing-to-package-directory generate-manual --configuration debug --date $(MAN_DATE)
	mkdir -p $(DIST)
	sed -e 's/^[[:space:]]*$$/.Pp/' $(MAN_OUT) > $(DIST)/patchkeeper.1

completions: build
	mkdir -p $(DIST)/completions
	$(BIN) --generate-completion-script bash > $(DIST)/completions/patchkeeper
	$(BIN) --generate-completion-script zsh > $(DIST)/completions/_patchkeeper
	$(BIN) --generate-completion-script fish > $(DIST)/completions/patchkeeper.fish

install: all
	$(MAKE) install-files

# Copies what 'all' made; the systemd units get BINDIR and DOCDIR of this install.
install-files:
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHDIR) $(DESTDIR)$(ZSHDIR) \
	    $(DESTDIR)$(FISHDIR) $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(DOCDIR)/examples/capistrano \
	    $(DESTDIR)$(DOCDIR)/examples/ansible/roles/patchkeeper/defaults \
	    $(DESTDIR)$(DOCDIR)/examples/ansible/roles/patchkeeper/tasks $(DESTDIR)$(DATADIR)/hooks
	install -m 0755 $(BIN) $(DESTDIR)$(BINDIR)/patchkeeper
	install -m 0644 $(DIST)/patchkeeper.1 $(DESTDIR)$(MANDIR)/man1/patchkeeper.1
	install -m 0644 $(DIST)/completions/patchkeeper $(DESTDIR)$(BASHDIR)/patchkeeper
	install -m 0644 $(DIST)/completions/_patchkeeper $(DESTDIR)$(ZSHDIR)/_patchkeeper
	install -m 0644 $(DIST)/completions/patchkeeper.fish $(DESTDIR)$(FISHDIR)/patchkeeper.fish
	for unit in patchkeeper-scan@.service patchkeeper-scan@.timer; do \
	    sed -e 's|/usr/bin/patchkeeper|$(BINDIR)/patchkeeper|g' -e 's|/usr/share/doc/patchkeeper|$(DOCDIR)|g' \
	        contrib/systemd/$$unit > $(DESTDIR)$(SYSTEMDDIR)/$$unit && chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/$$unit || exit 1; \
	done
	install -m 0755 contrib/hooks/pre-deploy.sh contrib/hooks/post-deploy.sh $(DESTDIR)$(DATADIR)/hooks/
	install -m 0644 contrib/config.toml.example $(DESTDIR)$(DOCDIR)/config.toml.example
	install -m 0644 README.md docs/OPERATIONS.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 contrib/capistrano/patchkeeper.rake $(DESTDIR)$(DOCDIR)/examples/capistrano/
	install -m 0644 contrib/ansible/deploy-example.yml $(DESTDIR)$(DOCDIR)/examples/ansible/
	install -m 0644 contrib/ansible/roles/patchkeeper/defaults/main.yml $(DESTDIR)$(DOCDIR)/examples/ansible/roles/patchkeeper/defaults/
	install -m 0644 contrib/ansible/roles/patchkeeper/tasks/*.yml $(DESTDIR)$(DOCDIR)/examples/ansible/roles/patchkeeper/tasks/

# The package: the install above under /usr, binary stripped, man page gzipped, Depends from
# dpkg-shlibdeps (dpkg-dev) when it is there, else the libraries readelf shows on Debian 12.
deb: all
	rm -rf $(DIST)/deb
	$(MAKE) install-files DESTDIR=$(abspath $(DEBROOT)) PREFIX=/usr \
	    ZSHDIR=/usr/share/zsh/vendor-completions SYSTEMDDIR=/lib/systemd/system
	strip --remove-section=.comment --remove-section=.note $(DEBROOT)/usr/bin/patchkeeper
	gzip -9n $(DEBROOT)/usr/share/man/man1/patchkeeper.1
	install -d -m 0755 $(DEBROOT)/DEBIAN $(DEBROOT)/etc/motd.d $(DEBROOT)/var/lib/patchkeeper
	printf '%s\n' '#!/bin/sh' 'set -e' \
	    'if [ -d /run/systemd/system ]; then systemctl --system daemon-reload >/dev/null || true; fi' \
	    > $(DEBROOT)/DEBIAN/postinst
	cp $(DEBROOT)/DEBIAN/postinst $(DEBROOT)/DEBIAN/postrm
	chmod 0755 $(DEBROOT)/DEBIAN/postinst $(DEBROOT)/DEBIAN/postrm
	@set -e; \
	version="$$($(BIN) --version)"; arch="$$(dpkg --print-architecture)"; \
	depends="libc6, libgcc-s1, libgit2-1.5, libstdc++6"; \
	if command -v dpkg-shlibdeps >/dev/null; then \
	    mkdir -p $(DIST)/deb/src/debian; \
	    printf 'Source: patchkeeper\n\nPackage: patchkeeper\nArchitecture: any\n' > $(DIST)/deb/src/debian/control; \
	    depends="$$(cd $(DIST)/deb/src && dpkg-shlibdeps -O $(abspath $(DEBROOT))/usr/bin/patchkeeper | sed -n 's/^shlibs:Depends=//p')"; \
	fi; \
	case "$$depends" in *libgit2-1.5*) ;; *) echo "make: Depends lacks libgit2-1.5: $$depends" >&2; exit 1 ;; esac; \
	{ echo "Package: patchkeeper"; \
	  echo "Version: $$version"; \
	  echo "Architecture: $$arch"; \
	  echo "Maintainer: $(MAINTAINER)"; \
	  echo "Installed-Size: $$(du -sk --exclude=DEBIAN $(DEBROOT) | cut -f1)"; \
	  echo "Depends: $$depends"; \
	  echo "Suggests: prometheus-node-exporter"; \
	  echo "Section: admin"; \
	  echo "Priority: optional"; \
	  echo "Description: keep track of hot patches on deployed applications"; \
	  echo " patchkeeper records changes made by hand to a deployed application's files"; \
	  echo " (\"monkey patches\") as git-format patches in a registry that is a git"; \
	  echo " repository, scans the live tree for drift, keeps a login banner, exports"; \
	  echo " Prometheus metrics, and checks a deploy before it wipes a patch out."; \
	} > $(DEBROOT)/DEBIAN/control; \
	dpkg-deb --root-owner-group --build $(DEBROOT) $(DIST)/patchkeeper_$${version}_$${arch}.deb

check:
	$(SWIFT) test
	contrib/tests/run-hooks.sh

clean:
	rm -rf $(DIST)
