# Infrastructure targets, included by the top Makefile (`include infra/infra.mk`) and run from
# the repository root. The top Makefile provides VENV_BIN (the venv's bin directory, holding
# cfn-lint, sam and cargo-lambda) and a `venv` target that creates it.
#
#   make infra-lint    cfn-lint (with .cfnlintrc's security rules) + sam validate --lint +
#                      checkov, offline; checkov fails on any finding not suppressed, with its
#                      reason, in the template itself
#   make lambda-build  release arm64 zips of the five functions in $(CARGO_TARGET_DIR or target)/lambda/<bin>/
#   make sam-build     sam build (infra/.aws-sam/build), the artefacts sam deploy uploads
#   make deploy        sam-build, then sam deploy (guided the first time)
#
# `lint` and `build` gain infra-lint and lambda-build as prerequisites without a recipe of their
# own, so the top Makefile may still give them recipes (clippy, a debug build, ...).

INFRA_DIR      := infra
INFRA_TEMPLATE := $(INFRA_DIR)/template.yaml
INFRA_SAMCONFIG := $(INFRA_DIR)/samconfig.toml
LAMBDA_BINS    := create-session link-token get-session webhook reconcile
LAMBDA_TARGET  := aarch64-unknown-linux-gnu

# checkov lives in its own venv under target/ (ignored by git, kept between
# runs): its pinned dependencies would fight aws-sam-cli's in .venv. Half a minute to install.
CHECKOV_VENV := target/checkov-venv
CHECKOV      := $(CHECKOV_VENV)/bin/checkov

INFRA_ENV := PATH="$(VENV_BIN):$$PATH" SAM_CLI_TELEMETRY=0
# cfn-lint and sam validate need a region but no credentials and no network. Only lint gets a
# default: for deploy it would override the region of the user's AWS profile.
INFRA_LINT_ENV := $(INFRA_ENV) AWS_DEFAULT_REGION="$${AWS_DEFAULT_REGION:-$${AWS_REGION:-us-east-1}}"

.PHONY: lint build infra-lint checkov lambda-build lambda-target sam-build deploy

lint: infra-lint
build: lambda-build

infra-lint: venv checkov
	$(INFRA_LINT_ENV) cfn-lint $(INFRA_TEMPLATE)
	$(INFRA_LINT_ENV) sam validate --lint -t $(INFRA_TEMPLATE)

$(CHECKOV_VENV)/.installed: $(INFRA_DIR)/checkov-requirements.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r $(INFRA_DIR)/checkov-requirements.txt
	touch $@

# Exits non-zero on any failed check; the accepted ones are skipped in the template, each with
# its reason (Metadata.checkov.skip). --skip-download: offline, no Prisma Cloud look-ups.
checkov: $(CHECKOV_VENV)/.installed
	$(CHECKOV) -f $(INFRA_TEMPLATE) --framework cloudformation --quiet --compact --skip-download

# cargo-lambda adds the target by itself, but five parallel `sam build` workers doing so at once
# race in rustup and all but one fail: add it once, up front.
lambda-target:
	rustup target list --installed | grep -qx '$(LAMBDA_TARGET)' || rustup target add $(LAMBDA_TARGET)

# One cargo invocation for all five: dependencies compile once and the LTO links share the cores.
lambda-build: venv lambda-target
	$(INFRA_ENV) cargo lambda build --release --arm64 --output-format zip \
		$(foreach b,$(LAMBDA_BINS),--bin $(b))

# sam build works inside the workspace (rust-cargolambda builds in source) and copies each
# bootstrap to infra/.aws-sam/build/<Function>/.
sam-build: venv lambda-target
	cd $(INFRA_DIR) && $(INFRA_ENV) sam build

# The stack's required parameters (IdvTemplateId, JwtIssuer, JwtAudience) have no defaults, so
# until samconfig.toml holds parameter_overrides the deploy runs guided and saves the answers.
deploy: sam-build
	@if grep -Eq '^[[:space:]]*parameter_overrides[[:space:]]*=' $(INFRA_SAMCONFIG); then \
		echo "cd $(INFRA_DIR) && sam deploy"; \
		cd $(INFRA_DIR) && $(INFRA_ENV) sam deploy; \
	else \
		echo "cd $(INFRA_DIR) && sam deploy --guided"; \
		cd $(INFRA_DIR) && $(INFRA_ENV) sam deploy --guided; \
	fi
