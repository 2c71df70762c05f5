# The CDK app's verbs; the root Makefile includes this file after it defines STAMP and BIN.
#   make synth   -> cdk.out/<stack>.template.json (+ cdk-nag reports), through the pinned CDK CLI
# Context goes through CDK_ARGS, e.g.  make synth CDK_ARGS="-c architecture=arm64"
NODE_STAMP := node_modules/.installed
CDK := npx --no-install cdk
CDK_ARGS ?=
# jsii (under aws-cdk-lib) warns loudly on Node 20; the warning is about support, not correctness.
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20

TEST_DEPS += node_modules

.PHONY: node_modules synth cdk-diff

node_modules: $(NODE_STAMP) ## install the pinned AWS CDK CLI from package-lock.json

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

synth: $(NODE_STAMP) $(STAMP) ## cdk synth (+ cdk-nag) into cdk.out/, then cfn-lint on the templates
	PATH="$(abspath $(BIN)):$$PATH" $(CDK) synth --no-notices --quiet $(CDK_ARGS)
	$(BIN)/cfn-lint --non-zero-exit-code error cdk.out/*.template.json

cdk-diff: $(NODE_STAMP) $(STAMP) ## what a deploy would change in the current account/region
	PATH="$(abspath $(BIN)):$$PATH" $(CDK) diff --no-notices $(CDK_ARGS)
