SUMMARY = "toolcalld: the function-calling service, its client tools and a model"
DESCRIPTION = "Everything a device needs to answer tool-calling requests over D-Bus: the toolcalld daemon, toolcallctl and libtoolcall, and the model bundle chosen with PREFERRED_RPROVIDER_virtual-toolcalld-model."
HOMEPAGE = "https://github.com/toolcalld/toolcalld"
BUGTRACKER = "https://github.com/toolcalld/toolcalld/issues"
SECTION = "network"

inherit packagegroup features_check

# toolcalld ships a systemd unit, a sysusers.d entry and system-bus activation.
REQUIRED_DISTRO_FEATURES = "systemd"

RDEPENDS:${PN} = "\
    toolcalld \
    toolcalld-client \
    virtual-toolcalld-model \
"
