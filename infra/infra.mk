# Infrastructure targets, included by the top Makefile (`include infra/infra.mk`) and run from
# the repository root. The top Makefile provides VENV_BIN (the venv's bin directory, holding
# cfn-lint, sam and cargo-lambda) and a `venv` target that creates it. `make help` lists each
# target here by its `## ` description.
#
# `lint` and `build` gain infra-lint and lambda-build as prerequisites without a recipe of their
# own, so the top Makefile may still give them recipes (clippy, a debug build, ...).

INFRA_DIR      := infra
INFRA_TEMPLATE := $(INFRA_DIR)/template.yaml
LAMBDA_BINS    := create-session link-token get-session webhook reconcile publish-events
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
build: lambda-build ## release arm64 zips of the six functions (lambda-build)

infra-lint: venv checkov ## cfn-lint (.cfnlintrc's security rules) + sam validate --lint + checkov, offline
	$(INFRA_LINT_ENV) cfn-lint $(INFRA_TEMPLATE)
	$(INFRA_LINT_ENV) sam validate --lint -t $(INFRA_TEMPLATE)

$(CHECKOV_VENV)/.installed: $(INFRA_DIR)/checkov-requirements.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet -r $(INFRA_DIR)/checkov-requirements.txt
	touch $@

# Exits non-zero on any failed check; the accepted ones are skipped in the template, each with
# its reason (Metadata.checkov.skip). --skip-download: offline, no Prisma Cloud look-ups.
checkov: $(CHECKOV_VENV)/.installed ## checkov on the template (own venv in target/); fails on any finding not skipped with its reason
	$(CHECKOV) -f $(INFRA_TEMPLATE) --framework cloudformation --quiet --compact --skip-download

# cargo-lambda adds the target by itself, but five parallel `sam build` workers doing so at once
# race in rustup and all but one fail: add it once, up front.
lambda-target: ## rustup target add aarch64-unknown-linux-gnu, if missing
	rustup target list --installed | grep -qx '$(LAMBDA_TARGET)' || rustup target add $(LAMBDA_TARGET)

# One cargo invocation for all five: dependencies compile once and the LTO links share the cores.
lambda-build: venv lambda-target ## cargo lambda build --release --arm64: target/lambda/<function>/bootstrap.zip
	$(INFRA_ENV) cargo lambda build --release --arm64 --output-format zip \
		$(foreach b,$(LAMBDA_BINS),--bin $(b))

# sam build works inside the workspace (rust-cargolambda builds in source) and copies each
# bootstrap to infra/.aws-sam/build/<Function>/.
sam-build: venv lambda-target ## sam build: the artefacts sam deploy uploads, in infra/.aws-sam/build
	cd $(INFRA_DIR) && $(INFRA_ENV) sam build

# One stack per environment: CONFIG_ENV=dev or prod picks samconfig.toml's [dev] or [prod] (stack
# name, S3 prefix). The stack's own values (IdvTemplateId, JwtIssuer, JwtAudience, PlaidEnv, ...)
# are never tracked: PARAMS on the command line, else the untracked infra/<env>.params, in
# --parameter-overrides form (Key=value, shell-quoted where a value has spaces).
CONFIG_ENV ?=
PARAMS ?= $(strip $(shell cat $(INFRA_DIR)/$(CONFIG_ENV).params 2>/dev/null))

deploy: sam-build ## sam deploy of one stack: CONFIG_ENV=dev or prod, and PARAMS="Key=value ..." or the untracked infra/<env>.params
	@case "$(CONFIG_ENV)" in dev|prod) ;; \
	  *) echo "make deploy: say which stack: CONFIG_ENV=dev or CONFIG_ENV=prod (infra/samconfig.toml)" >&2; exit 2 ;; esac
	@$(if $(PARAMS),true,echo "make deploy: no stack parameters: set PARAMS='IdvTemplateId=... JwtIssuer=... JwtAudience=...' or write them in infra/$(CONFIG_ENV).params (untracked); see infra/README.md, Deploy" >&2; exit 2)
	cd $(INFRA_DIR) && $(INFRA_ENV) sam deploy --config-env $(CONFIG_ENV) --parameter-overrides $(PARAMS)

# The release folder, target/release-<version>/ (what it holds: tests/src/release.rs): the arm64
# zips of LAMBDA_BINS with their SHA256SUMS, a template whose functions deploy those zips, the
# OpenAPI file and the outcome events' schema (shared/events/*.json). The template's functions
# are the list: one without its zip stops the release. The release build takes minutes, so
# `make test` checks the folder's layout from stand-in zips instead (tests/tests/it/package.rs).
.PHONY: package release-folder
RELEASE_FOLDER = dir="$$(cargo run -q -p testkit --bin release-package)" \
	&& (cd "$$dir" && sha256sum --quiet --check SHA256SUMS) \
	&& $(INFRA_LINT_ENV) cfn-lint "$$dir/template.yaml" \
	&& $(INFRA_LINT_ENV) sam validate --lint -t "$$dir/template.yaml" \
	&& echo "release folder: $$dir (upload: see infra/README.md, Publishing)"

package: venv lambda-build ## release folder target/release-<version>/: arm64 zips + SHA256SUMS, packaged template, OpenAPI, event schema
	$(RELEASE_FOLDER)

release-folder: venv ## the release folder from the zips already in target/lambda (no build), checked and linted
	$(RELEASE_FOLDER)
