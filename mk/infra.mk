# The CDK app's verbs; the root Makefile includes this file after it defines STAMP and BIN.
#   make synth   -> cdk.out/<stack>.template.json (+ cdk-nag reports), through the pinned CDK CLI
#   make deploy  -> python -m infra.deploy: the deployed stack's guarded settings checked, then
#                   cdk deploy with cdk.json's settings (the only way docs/deploy.md deploys)
# Context goes through CDK_ARGS for synth and diff only, e.g.  make synth CDK_ARGS="-c architecture=arm64";
# a deploy reads cdk.json alone. DEPLOY_ARGS, e.g. DEPLOY_ARGS="--allow-change authMode".
NODE_STAMP := node_modules/.installed
CDK := npx --no-install cdk
CDK_ARGS ?=
DEPLOY_ARGS ?=
# jsii (under aws-cdk-lib) warns loudly on Node 20; the warning is about support, not correctness.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

TEST_DEPS += node_modules

.PHONY: node_modules synth cdk-diff bootstrap deploy deploy-check deploy-role outputs destroy

node_modules: $(NODE_STAMP) ## install the pinned AWS CDK CLI from package-lock.json

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

synth: $(NODE_STAMP) $(STAMP) ## cdk synth (+ cdk-nag) into cdk.out/, then cfn-lint on the templates
	PATH="$(abspath $(BIN)):$$PATH" $(CDK) synth --no-notices --quiet $(CDK_ARGS)
	$(BIN)/cfn-lint --non-zero-exit-code error cdk.out/*.template.json

cdk-diff: $(NODE_STAMP) $(STAMP) ## what a deploy would change in the current account/region
	PATH="$(abspath $(BIN)):$$PATH" $(CDK) diff --no-notices $(CDK_ARGS)

bootstrap: $(NODE_STAMP) $(STAMP) ## cdk bootstrap the account and region of your credentials (once)
	PATH="$(abspath $(BIN)):$$PATH" $(CDK) bootstrap --no-notices

deploy: $(NODE_STAMP) $(STAMP) ## deploy cdk.json's stack (refused if authMode or apiCloudWatchRole would change)
	$(BIN)/python -m infra.deploy $(DEPLOY_ARGS)

deploy-check: $(STAMP) ## compare cdk.json's guarded settings with the deployed stack; deploy nothing
	$(BIN)/python -m infra.deploy --check $(DEPLOY_ARGS)

deploy-role: $(NODE_STAMP) $(STAMP) ## deploy the GitHub Actions deploy role's stack (githubRepository in cdk.json)
	$(BIN)/python -m infra.deploy --deploy-role $(DEPLOY_ARGS)

outputs: $(STAMP) ## re-create cdk.out/outputs.json from the deployed stack
	$(BIN)/python -m infra.outputs

destroy: $(NODE_STAMP) $(STAMP) ## cdk destroy the stack (the artifacts bucket is kept; docs/deploy.md)
	PATH="$(abspath $(BIN)):$$PATH" $(CDK) destroy --no-notices $$($(BIN)/python -c 'from pathlib import Path; from infra.cli import read_config; print(read_config(Path("cdk.json")).stack_name)')
