# nooelint: oelint.var.bbclassextend
# (No native or nativesdk variant: toolcalld is a device service; the host side of the
# project, the model pipeline, is Python and runs outside bitbake.)
SUMMARY = "On-device function calling as a D-Bus system service"
DESCRIPTION = "toolcalld turns a natural-language request and a list of JSON tool schemas, sent over D-Bus, into validated tool calls. A small language model runs offline on the CPU (tract) under a grammar compiled from the schemas (llguidance). The model comes separately, from a virtual/toolcalld-model provider."
HOMEPAGE = "https://github.com/toolcalld/toolcalld"
BUGTRACKER = "https://github.com/toolcalld/toolcalld/issues"
SECTION = "network"

# toolcalld itself is Apache-2.0. Its binaries statically link crates.io crates: most offer
# Apache-2.0 or MIT; some are MIT only, foldhash is Zlib, borrow-or-share MIT-0,
# unicode-ident is (Apache-2.0 or MIT) and Unicode-3.0, and escalation's HTTPS brings ring
# (Apache-2.0 and ISC), untrusted and rustls-webpki (ISC), subtle (BSD-3-Clause) and
# webpki-roots (the Mozilla roots, CDLA-Permissive-2.0). scripts/yocto-layer.py --check (run
# by the project's tests) recomputes this from the crates' metadata and fails on drift.
LICENSE = "Apache-2.0 & BSD-3-Clause & CDLA-Permissive-2.0 & ISC & MIT & MIT-0 & Unicode-3.0 & Zlib"
LIC_FILES_CHKSUM = "file://LICENSE;md5=3b83ef96387f14655fc854ddc3c6bd57"

# No release is tagged yet: SRCREV is a placeholder, and the recipe is skipped with a
# message until it is set (to the commit of tag v${PV}) or the source comes from a local
# checkout through externalsrc (see the layer's README.md).
SRC_URI = "git://github.com/toolcalld/toolcalld.git;protocol=https;branch=main"
SRCREV = "0000000000000000000000000000000000000000"

require ${BPN}-crates.inc

inherit cargo cargo-update-recipe-crates systemd useradd features_check

# Units, sysusers.d, Type=notify with a watchdog, journal logging: no sysvinit script.
REQUIRED_DISTRO_FEATURES = "systemd"

SKIP_RECIPE[toolcalld] = "${@'SRCREV is the placeholder and EXTERNALSRC is not set: set SRCREV:pn-toolcalld to a released commit or build a local checkout (see the README.md of meta-toolcalld)' if d.getVar('SRCREV') == '0' * 40 and not d.getVar('EXTERNALSRC') else ''}"

CVE_PRODUCT = "toolcalld"

# The workspace also holds the engine's training-data tool and the end-to-end tests:
# build only the daemon and the client package (toolcallctl and the C library).
CARGO_BUILD_FLAGS += "-p toolcalld -p toolcall-client"

# The cargo class would install every executable cargo built. The project's Makefile
# installs exactly what the packages below ship, from cargo's output directory, without
# running cargo itself; the directory variables make it follow the distro (multilib libdir).
do_install() {
    oe_runmake -C ${S} install \
        DESTDIR=${D} \
        TARGET_DIR=${B}/target/${CARGO_TARGET_SUBDIR} \
        PREFIX=${prefix} \
        BINDIR=${bindir} \
        LIBDIR=${libdir} \
        INCLUDEDIR=${includedir} \
        DATADIR=${datadir} \
        MANDIR=${mandir} \
        SYSCONFDIR=${sysconfdir} \
        SYSTEMD_SYSTEM_UNITDIR=${systemd_system_unitdir} \
        SYSTEMD_USER_UNITDIR=${systemd_user_unitdir} \
        SYSUSERSDIR=${nonarch_libdir}/sysusers.d

    # Programs link libtoolcall through the libtoolcall.so symlink in toolcalld-dev and
    # must record the versioned name, or they would need the -dev package at run time.
    if ! ${OBJDUMP} -p ${D}${libdir}/libtoolcall.so.0 | grep -q 'SONAME *libtoolcall\.so\.0$'; then
        bbfatal "libtoolcall.so.0 does not carry the SONAME libtoolcall.so.0"
    fi

    # Devices serve the system bus. The session-bus unit (same name as the system unit) and
    # its activation file would let any login session start a second daemon and model, and
    # the systemd class would also enable the user unit globally (it looks for each
    # SYSTEMD_SERVICE name in the user unit directory too): leave both out.
    rm -f ${D}${systemd_user_unitdir}/toolcalld.service \
        ${D}${datadir}/dbus-1/services/org.toolcalld.ToolCall1.service
    rmdir --ignore-fail-on-non-empty ${D}${systemd_user_unitdir} ${D}${datadir}/dbus-1/services
}

PACKAGES =+ "${PN}-client"

FILES:${PN} += "\
    ${datadir}/dbus-1/system.d/org.toolcalld.ToolCall1.conf \
    ${datadir}/dbus-1/system-services/org.toolcalld.ToolCall1.service \
    ${datadir}/dbus-1/interfaces \
    ${nonarch_libdir}/sysusers.d/toolcalld.conf \
"
FILES:${PN}-client += "\
    ${bindir}/toolcallctl \
    ${libdir}/libtoolcall.so.0 \
    ${datadir}/bash-completion/completions/toolcallctl \
    ${datadir}/zsh/site-functions/_toolcallctl \
    ${datadir}/fish/vendor_completions.d/toolcallctl.fish \
"

CONFFILES:${PN} = "${sysconfdir}/toolcalld/toolcalld.toml"

# Keep the name: the debian class would rename a package holding one library after it
# (toolcalld-client -> libtoolcall0). oelint-adv does not know this debian.bbclass variable.
# nooelint: oelint.vars.mispell.unknown
DEBIAN_NOAUTONAME:${PN}-client = "1"

RDEPENDS:${PN} = "dbus"
# The daemon needs a model bundle to start; packagegroup-toolcalld requires one. A
# recommendation here lets images that place the model elsewhere (a data partition) go
# without.
RRECOMMENDS:${PN} = "virtual-toolcalld-model"

SYSTEMD_SERVICE:${PN} = "toolcalld.service"

# The static service user (bus policy names it, so it must exist before dbus reads the
# policy: no DynamicUser), the group whose members may call the service and the one whose
# members may also reload its models. Kept identical
# to the shipped sysusers.d/toolcalld.conf.
USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system toolcall; --system toolcall-admin"
USERADD_PARAM:${PN} = "--system --user-group --home-dir / --no-create-home \
                       --shell ${base_sbindir}/nologin \
                       --comment 'toolcalld on-device function calling' toolcalld"
