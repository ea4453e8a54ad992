# patchkeeper: release build, man pages, shell completions, install and a Debian package.
#
#   make                                   build the binary, man pages and completions into dist/
#   make install PREFIX=/usr/local DESTDIR=   install what 'make' left in dist/ (builds nothing)
#   make uninstall PREFIX=/usr/local DESTDIR= remove what 'make install' installed
#   make deb                               dist/patchkeeper_VERSION_ARCH.deb (dpkg-deb; Debian 12)
#   make check                             swift test, contrib/tests/run-hooks.sh, check-man.sh
#   make clean                             remove dist/ (not .build/)
#
# Build as your user, install as root: 'make && sudo make install'. 'make install' never compiles,
# so root does not run the compiler or SwiftPM plugins; it stops when dist/ is incomplete.
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
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
DOCDIR     ?= $(PREFIX)/share/doc/patchkeeper
DATADIR    ?= $(PREFIX)/share/patchkeeper
# The Ansible role; /usr/share/ansible/roles is on Debian's default roles_path.
ANSIBLEDIR ?= $(PREFIX)/share/ansible/roles
# patchkeeper reads /etc/patchkeeper/config.toml whatever the PREFIX.
SYSCONFDIR ?= /etc

# Full RELRO and immediate binding (lintian: hardening-no-bindnow); Swift links PIE already.
HARDENING   ?= -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now
# The loader looks every symbol up in load order, and OpenSSL's and mbedTLS's crypto libraries
# (loaded for libgit2, several levels down) bind thousands of their own symbols at start: named
# here right after libgit2, those look-ups stop early (2.3 M fewer instructions in every start,
# a fifth of `--version`; docs/DESIGN.md §7). Neither defines a symbol any library before it
# does, so no binding changes. Empty when the installed libgit2 loads neither.
EARLY_LIBS  ?= $(shell ldd "$$(pkg-config --variable=libdir libgit2 2>/dev/null)/libgit2.so" 2>/dev/null \
                 | awk '$$1 ~ /^lib(crypto|mbedcrypto)[.]so[.]/ { printf " -Xlinker -l:%s", $$1 }')
LINK_ORDER  := $(if $(strip $(EARLY_LIBS)),-Xlinker --push-state -Xlinker --no-as-needed$(EARLY_LIBS) -Xlinker --pop-state)
BUILD_FLAGS ?= -c release --static-swift-stdlib $(HARDENING) $(LINK_ORDER)
BIN         := .build/release/patchkeeper
DIST        := dist
MAINTAINER  ?= patchkeeper maintainers <patchkeeper@example.org>
DEBROOT     := $(DIST)/deb/root

# What 'make' leaves in dist/ and 'make install' copies.
DIST_FILES := $(DIST)/patchkeeper $(DIST)/man/patchkeeper.1 $(DIST)/man/patchkeeper.toml.5 \
              $(DIST)/completions/patchkeeper $(DIST)/completions/_patchkeeper $(DIST)/completions/patchkeeper.fish

ANSIBLE_ROLE := contrib/ansible/roles/patchkeeper
ROLE_DIRS    := defaults handlers meta tasks templates

# What 'make install' puts in DATADIR, DOCDIR and the role's directory: 'make uninstall' removes
# these files and then the directories left empty, never a directory with what else is in it.
DATA_FILES := hooks/pre-deploy.sh hooks/post-deploy.sh
DATA_DIRS  := hooks
DOC_FILES  := README.md OPERATIONS.md FLEET.md examples/fleet/update-hook \
              examples/capistrano/patchkeeper.rake examples/ansible/deploy-example.yml
DOC_DIRS   := examples/fleet examples/capistrano examples/ansible examples
ROLE_FILES := $(patsubst $(ANSIBLE_ROLE)/%,%,$(foreach d,$(ROLE_DIRS),$(wildcard $(ANSIBLE_ROLE)/$(d)/*)))

.PHONY: all build man completions install uninstall deb check clean

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
	mkdir -p $(DIST)
	cp $(BIN) $(DIST)/patchkeeper

# The man pages are written by hand in docs/man (contrib/tests/check-man.sh keeps them in step
# with the commands and lints them).
man:
	mkdir -p $(DIST)/man
	cp docs/man/patchkeeper.1 docs/man/patchkeeper.toml.5 $(DIST)/man/

# argument-parser's scripts; a completion file is sourced, not run, so no '#!' line.
completions: build
	mkdir -p $(DIST)/completions
	$(DIST)/patchkeeper --generate-completion-script bash | sed '1{/^#!/d}' > $(DIST)/completions/patchkeeper
	$(DIST)/patchkeeper --generate-completion-script zsh > $(DIST)/completions/_patchkeeper
	$(DIST)/patchkeeper --generate-completion-script fish > $(DIST)/completions/patchkeeper.fish

# Copies what 'all' made (it builds nothing); the systemd units get BINDIR and DOCDIR of this install.
# The config example goes to SYSCONFDIR/patchkeeper, beside an empty conf.d; an existing
# config.toml is never touched.
install:
	@missing=""; for f in $(DIST_FILES); do [ -f "$$f" ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	    echo "make install: missing$$missing" >&2; \
	    echo "make install builds nothing: run 'make' first (as your user, not as root), then 'make install'." >&2; \
	    exit 1; \
	fi
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(BASHDIR) \
	    $(DESTDIR)$(ZSHDIR) $(DESTDIR)$(FISHDIR) $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(TMPFILESDIR) \
	    $(DESTDIR)$(DOCDIR)/examples/capistrano $(DESTDIR)$(DATADIR)/hooks \
	    $(DESTDIR)$(SYSCONFDIR)/patchkeeper/conf.d
	install -d $(DESTDIR)$(DOCDIR)/examples/ansible
	$(foreach d,$(ROLE_DIRS),install -d $(DESTDIR)$(ANSIBLEDIR)/patchkeeper/$(d);)
	install -m 0755 $(DIST)/patchkeeper $(DESTDIR)$(BINDIR)/patchkeeper
	install -m 0644 $(DIST)/man/patchkeeper.1 $(DESTDIR)$(MANDIR)/man1/patchkeeper.1
	install -m 0644 $(DIST)/man/patchkeeper.toml.5 $(DESTDIR)$(MANDIR)/man5/patchkeeper.toml.5
	install -m 0644 $(DIST)/completions/patchkeeper $(DESTDIR)$(BASHDIR)/patchkeeper
	install -m 0644 $(DIST)/completions/_patchkeeper $(DESTDIR)$(ZSHDIR)/_patchkeeper
	install -m 0644 $(DIST)/completions/patchkeeper.fish $(DESTDIR)$(FISHDIR)/patchkeeper.fish
	for unit in patchkeeper-scan@.service patchkeeper-scan@.timer; do \
	    sed -e 's|/usr/bin/patchkeeper|$(BINDIR)/patchkeeper|g' -e 's|/usr/share/doc/patchkeeper|$(DOCDIR)|g' \
	        contrib/systemd/$$unit > $(DESTDIR)$(SYSTEMDDIR)/$$unit && chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/$$unit || exit 1; \
	done
	install -m 0644 contrib/systemd/patchkeeper.tmpfiles $(DESTDIR)$(TMPFILESDIR)/patchkeeper.conf
	install -m 0755 contrib/hooks/pre-deploy.sh contrib/hooks/post-deploy.sh $(DESTDIR)$(DATADIR)/hooks/
	install -m 0644 contrib/config.toml.example $(DESTDIR)$(SYSCONFDIR)/patchkeeper/config.toml.example
	install -m 0644 README.md docs/OPERATIONS.md docs/FLEET.md $(DESTDIR)$(DOCDIR)/
	install -d $(DESTDIR)$(DOCDIR)/examples/fleet
	install -m 0644 contrib/fleet/update-hook $(DESTDIR)$(DOCDIR)/examples/fleet/update-hook
	install -m 0644 contrib/capistrano/patchkeeper.rake $(DESTDIR)$(DOCDIR)/examples/capistrano/
	install -m 0644 contrib/ansible/deploy-example.yml $(DESTDIR)$(DOCDIR)/examples/ansible/
	$(foreach d,$(ROLE_DIRS),install -m 0644 $(wildcard $(ANSIBLE_ROLE)/$(d)/*) $(DESTDIR)$(ANSIBLEDIR)/patchkeeper/$(d)/;)

# Removes the files 'make install' put in place (not the config, the registries or a banner),
# then the directories it made when they are empty: files added beside them are kept.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/patchkeeper $(DESTDIR)$(MANDIR)/man1/patchkeeper.1 \
	    $(DESTDIR)$(MANDIR)/man5/patchkeeper.toml.5 $(DESTDIR)$(BASHDIR)/patchkeeper \
	    $(DESTDIR)$(ZSHDIR)/_patchkeeper $(DESTDIR)$(FISHDIR)/patchkeeper.fish \
	    $(DESTDIR)$(SYSTEMDDIR)/patchkeeper-scan@.service $(DESTDIR)$(SYSTEMDDIR)/patchkeeper-scan@.timer \
	    $(DESTDIR)$(TMPFILESDIR)/patchkeeper.conf \
	    $(DESTDIR)$(SYSCONFDIR)/patchkeeper/config.toml.example
	rm -f $(addprefix $(DESTDIR)$(DATADIR)/,$(DATA_FILES)) $(addprefix $(DESTDIR)$(DOCDIR)/,$(DOC_FILES)) \
	    $(addprefix $(DESTDIR)$(ANSIBLEDIR)/patchkeeper/,$(ROLE_FILES))
	-rmdir $(addprefix $(DESTDIR)$(DATADIR)/,$(DATA_DIRS)) $(DESTDIR)$(DATADIR) \
	    $(addprefix $(DESTDIR)$(DOCDIR)/,$(DOC_DIRS)) $(DESTDIR)$(DOCDIR) \
	    $(addprefix $(DESTDIR)$(ANSIBLEDIR)/patchkeeper/,$(ROLE_DIRS)) $(DESTDIR)$(ANSIBLEDIR)/patchkeeper \
	    $(DESTDIR)$(SYSCONFDIR)/patchkeeper/conf.d $(DESTDIR)$(SYSCONFDIR)/patchkeeper 2>/dev/null || true

# The package: the install above under /usr, binary stripped, man pages and changelog gzipped,
# debian/copyright, maintainer scripts from debian/, Depends from dpkg-shlibdeps (dpkg-dev) when it
# is there, else the libraries readelf shows on Debian 12. A native package (version without a
# Debian revision), so the changelog is changelog.gz.
deb: all
	rm -rf $(DIST)/deb
	$(MAKE) install DESTDIR=$(abspath $(DEBROOT)) PREFIX=/usr \
	    ZSHDIR=/usr/share/zsh/vendor-completions SYSTEMDDIR=/lib/systemd/system
	strip --remove-section=.comment --remove-section=.note $(DEBROOT)/usr/bin/patchkeeper
	gzip -9n $(DEBROOT)/usr/share/man/man1/patchkeeper.1 $(DEBROOT)/usr/share/man/man5/patchkeeper.toml.5
	install -m 0644 debian/copyright $(DEBROOT)/usr/share/doc/patchkeeper/copyright
	gzip -9nc debian/changelog > $(DEBROOT)/usr/share/doc/patchkeeper/changelog.gz
	chmod 0644 $(DEBROOT)/usr/share/doc/patchkeeper/changelog.gz
	install -d -m 0755 $(DEBROOT)/DEBIAN $(DEBROOT)/var/lib/patchkeeper
	install -m 0755 debian/postinst debian/postrm $(DEBROOT)/DEBIAN/
	install -m 0644 debian/conffiles $(DEBROOT)/DEBIAN/conffiles
	@set -e; \
	version="$$($(DIST)/patchkeeper --version)"; arch="$$(dpkg --print-architecture)"; \
	changelog="$$(sed -n '1s/^patchkeeper (\([^)]*\)).*/\1/p' debian/changelog)"; \
	if [ "$$changelog" != "$$version" ]; then \
	    echo "make: debian/changelog is at $$changelog, the binary says $$version: add a changelog entry" >&2; exit 1; \
	fi; \
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
	(cd $(DEBROOT) && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) \
	    > $(DEBROOT)/DEBIAN/md5sums; \
	chmod 0644 $(DEBROOT)/DEBIAN/md5sums; \
	dpkg-deb --root-owner-group -Zxz --build $(DEBROOT) $(DIST)/patchkeeper_$${version}_$${arch}.deb

check:
	$(SWIFT) test
	contrib/tests/run-hooks.sh
	contrib/tests/check-man.sh

clean:
	rm -rf $(DIST)
