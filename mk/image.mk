# The Lambda image's verbs; the root Makefile includes this file after it defines STAMP and BIN.
#   make test-image   -> Docker engine (installed/started if needed), stand-in base, both image
#                        builds, every event through the emulator, `sam build` / `sam local`
SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
SAM_CLI_VERSION := 1.170.0
# sam would otherwise send telemetry and look for a newer release on every run.
export SAM_CLI_TELEMETRY := 0

.PHONY: sam lambda-base test-image bench-image

# Its own virtualenv: aws-sam-cli pins boto3, cfn-lint and more, which would clash with ours.
$(SAM_STAMP):
	$(PY) -m venv $(SAM_VENV)
	set -o pipefail; $(SAM_VENV)/bin/pip install -q 'aws-sam-cli==$(SAM_CLI_VERSION)' 2>&1 | { grep -v 'is ignored: it is neither' || true; }
	touch $@

sam: $(SAM_STAMP) ## AWS SAM CLI (and the Lambda emulator it ships) in .venv-sam

lambda-base: $(SAM_STAMP) ## stand-in for public.ecr.aws/lambda/python:3.12 in the local Docker daemon
	tests/image/lambda-base/build.sh

test-image: $(STAMP) $(SAM_STAMP) $(NODE_STAMP) ## build the Lambda image, run every event through it and `sam local`
	BENCH_RECORD=$(BENCH_RECORD) tests/image/docker-engine.sh $(BIN)/python -m pytest -q -m image tests/image

bench-image: ## make test-image, recording the image sizes and baked init into bench/results/lambda.json
	$(MAKE) --no-print-directory test-image BENCH_RECORD=1
