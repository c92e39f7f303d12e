# Packages a prebuilt toolcalld model bundle: a tarball whose top directory is the bundle
# (bundle.json, model.onnx, model.onnx.data, embedding.bin, tokenizer.json), installed read-only into
# ${datadir}/toolcalld/models/${TOOLCALLD_MODEL_INSTALL_NAME}/ where toolcalld looks by
# default. Bundles are built on the build host (scripts/setup.sh --no-demo); nothing is
# downloaded or converted on the device.
#
# A model recipe sets LICENSE and LIC_FILES_CHKSUM for the model, TOOLCALLD_MODEL_BUNDLE_NAME
# (the "name" in bundle.json, also the tarball's top directory), inherits this class and
# skips itself while no bundle is configured (a class cannot name its recipe's flag):
#
#   SKIP_RECIPE[<recipe name>] = "${@toolcalld_model_skip_reason(d)}"
#
# The integrator points it at the tarball, e.g. in local.conf:
#
#   TOOLCALLD_MODEL_BUNDLE_URI = "file:///srv/models/smollm2-135m-instruct-0.1.0.tar.gz"
#   TOOLCALLD_MODEL_BUNDLE_SHA256 = "<sha256sum of that file>"
#
# Any fetcher URL works (https://, s3://, ...). The recipe is skipped, saying what to do,
# until both are set. do_verify_bundle checks the tarball's sha256 (for every fetcher, local
# files included), that bundle.json names this bundle, version ${PV} and the recipe's license,
# and the checksums bundle.json lists for its files.
#
# Every model recipe provides virtual/toolcalld-model (build time) and
# virtual-toolcalld-model (run time); with several, pick one with
#   PREFERRED_PROVIDER_virtual/toolcalld-model = "<recipe>"
#   PREFERRED_RPROVIDER_virtual-toolcalld-model = "<recipe>"

TOOLCALLD_MODEL_BUNDLE_URI ??= ""
TOOLCALLD_MODEL_BUNDLE_SHA256 ??= ""
# What bundle.json must say; SPDX "AND"/"OR" are compared as "&"/"|".
TOOLCALLD_MODEL_BUNDLE_LICENSE ??= "${LICENSE}"
TOOLCALLD_MODEL_BUNDLE_VERSION ??= "${PV}"
# The directory under ${datadir}/toolcalld/models; the daemon's default model_dir is "default".
TOOLCALLD_MODEL_INSTALL_NAME ??= "default"
TOOLCALLD_MODEL_FILES = "bundle.json model.onnx model.onnx.data embedding.bin tokenizer.json"
TOOLCALLD_MODEL_DIR = "${datadir}/toolcalld/models/${TOOLCALLD_MODEL_INSTALL_NAME}"

PROVIDES += "virtual/toolcalld-model"

SRC_URI = "${TOOLCALLD_MODEL_BUNDLE_URI}"
SRC_URI[sha256sum] = "${TOOLCALLD_MODEL_BUNDLE_SHA256}"
S = "${UNPACKDIR}/${TOOLCALLD_MODEL_BUNDLE_NAME}"
INHIBIT_DEFAULT_DEPS = "1"

inherit allarch

def toolcalld_model_skip_reason(d):
    import re
    if not d.getVar('TOOLCALLD_MODEL_BUNDLE_URI'):
        return ('TOOLCALLD_MODEL_BUNDLE_URI is not set: build the bundle on the host '
                '(scripts/setup.sh --no-demo), pack it as a tarball and set '
                'TOOLCALLD_MODEL_BUNDLE_URI and TOOLCALLD_MODEL_BUNDLE_SHA256 (see the README '
                'of meta-toolcalld)')
    if not re.fullmatch('[0-9a-fA-F]{64}', d.getVar('TOOLCALLD_MODEL_BUNDLE_SHA256') or ''):
        return 'TOOLCALLD_MODEL_BUNDLE_SHA256 must be the sha256 of the bundle tarball'
    return ''

python do_verify_bundle() {
    import hashlib
    import json

    def sha256(path):
        h = hashlib.sha256()
        with open(path, 'rb') as f:
            for block in iter(lambda: f.read(1 << 20), b''):
                h.update(block)
        return h.hexdigest()

    reason = toolcalld_model_skip_reason(d)
    if reason:
        bb.fatal(reason)
    uri = d.getVar('TOOLCALLD_MODEL_BUNDLE_URI')
    archive = bb.fetch2.Fetch([uri], d).localpath(uri)
    want = d.getVar('TOOLCALLD_MODEL_BUNDLE_SHA256').lower()
    got = sha256(archive)
    if got != want:
        bb.fatal('%s: sha256 %s, TOOLCALLD_MODEL_BUNDLE_SHA256 says %s' % (archive, got, want))

    s = d.getVar('S')
    for name in d.getVar('TOOLCALLD_MODEL_FILES').split():
        if not os.path.isfile(os.path.join(s, name)):
            bb.fatal('%s is missing from the bundle tarball (top directory %s)'
                     % (name, d.getVar('TOOLCALLD_MODEL_BUNDLE_NAME')))
    with open(os.path.join(s, 'bundle.json')) as f:
        bundle = json.load(f)

    def spdx_to_oe(expr):
        return (expr or '').replace(' AND ', ' & ').replace(' OR ', ' | ')

    expect = {
        'name': d.getVar('TOOLCALLD_MODEL_BUNDLE_NAME'),
        'version': d.getVar('TOOLCALLD_MODEL_BUNDLE_VERSION'),
        'license': d.getVar('TOOLCALLD_MODEL_BUNDLE_LICENSE'),
    }
    for key, value in expect.items():
        have = spdx_to_oe(bundle.get(key)) if key == 'license' else bundle.get(key)
        if have != value:
            bb.fatal('bundle.json says %s "%s", the recipe expects "%s"' % (key, have, value))
    for name, digest in sorted((bundle.get('files') or {}).items()):
        if sha256(os.path.join(s, name)) != digest:
            bb.fatal('%s does not match the sha256 recorded in bundle.json' % name)
}
do_verify_bundle[doc] = "Checks the bundle tarball's sha256 and the bundle against its bundle.json"
addtask verify_bundle after do_unpack before do_configure

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${TOOLCALLD_MODEL_DIR}
    for f in ${TOOLCALLD_MODEL_FILES}; do
        install -m 0644 ${S}/$f ${D}${TOOLCALLD_MODEL_DIR}/$f
    done
}

PACKAGES = "${PN}"
FILES:${PN} += "${TOOLCALLD_MODEL_DIR}"
RPROVIDES:${PN} += "virtual-toolcalld-model"
