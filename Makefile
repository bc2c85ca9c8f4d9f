# The README's two commands: `make run` and `make test`. Everything else is a step of them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := local/node_modules/.installed
# Test-only npm packages: the federation gateway the supergraph test composes with.
FEDERATION_STAMP := tests/federation/node_modules/.installed
# graphql-http's GraphQL-over-HTTP audits, run against the local stack by tests/stack.
AUDIT_NPM_STAMP := tests/stack/audit/node_modules/.installed
# Apollo Client, urql with graphcache and Relay (relay-compiler included), run against the local stack.
CLIENTS_STAMP := tests/clients/node_modules/.installed
# The browser test drives Debian's chromium through its chromedriver; nothing else fetches a browser.
BROWSER := /usr/bin/chromium /usr/bin/chromedriver
# The local stack's HTTP cache (local/cache.conf): Debian's nginx. make test installs
# it; make run uses it when present and says so when not.
NGINX := /usr/sbin/nginx
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

STAGE ?= dev

.PHONY: install run demo test test-unit test-functional test-backends test-integration lint schema schema-baseline bench clean package deploy

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# pip stays below 26.3: chalice 1.34.0 requires it (it runs pip to build the deployment zip).
$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade 'pip<26.3'
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

$(NPM_STAMP): local/package.json local/package-lock.json
	cd local && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The federation gateway's packages need Node.js 20 or newer; say so rather than fail later.
$(FEDERATION_STAMP): tests/federation/package.json tests/federation/package-lock.json
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || { \
	  echo "Node.js 20 or newer is needed for the federation test (found $$(node --version))." >&2; exit 1; }
	cd tests/federation && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(AUDIT_NPM_STAMP): tests/stack/audit/package.json tests/stack/audit/package-lock.json
	cd tests/stack/audit && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Apollo Client and Relay use Node's own fetch; 20 is what the federation test needs too.
$(CLIENTS_STAMP): tests/clients/package.json tests/clients/package-lock.json
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' || { \
	  echo "Node.js 20 or newer is needed for the client tests (found $$(node --version))." >&2; exit 1; }
	cd tests/clients && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP) $(NPM_STAMP)
	@command -v java >/dev/null || { \
	  echo "Java is missing: DynamoDB Local needs it (apt-get install openjdk-17-jre-headless);"; \
	  echo "make run falls back to moto's DynamoDB server and says what differs."; \
	  if [ "$$CI" = "true" ]; then exit 1; fi; }

run: install
	$(BIN)/python -m local.stack

demo: install
	$(BIN)/python -m local.demo

# One rule for both files (&:): apt-get runs once, even under make -j.
$(BROWSER) &:
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver

$(NGINX):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nginx

test: install $(BROWSER) $(NGINX) $(FEDERATION_STAMP) $(AUDIT_NPM_STAMP) $(CLIENTS_STAMP)
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest tests/unit

test-functional: install
	$(BIN)/python -m pytest tests/functional

test-backends: install
	$(BIN)/python -m pytest tests/backends

test-integration: install
	$(BIN)/python -m pytest tests/integration

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Benchmarks are not tests: they measure and write BENCHMARKS.md (about ten minutes).
bench: install $(NGINX)
	$(BIN)/python -m bench

# schema.graphql is the clients' schema; schema.subgraph.graphql the same as a federation subgraph.
schema: install
	$(BIN)/python -c "from chalicelib.api.schema import sdl; print(sdl(), end='')" > schema.graphql
	$(BIN)/python -c "from chalicelib.api.schema import subgraph_sdl; print(subgraph_sdl(), end='')" > schema.subgraph.graphql

# Publishes the current schema as the baseline that breaking changes are checked
# against; CHANGELOG.md's new entry must name the fingerprint this prints.
schema-baseline: schema
	cp schema.graphql schema.baseline.graphql
	@echo "Baseline: \`sha256:$$(sha256sum schema.baseline.graphql | cut -c1-16)\`  (put this line in CHANGELOG.md's new entry)"

# dist/$(STAGE)/: sam.json + deployment.zip (+ the SAM-expanded transformed.json), validated.
package: install
	$(BIN)/python -m infra.package --stage $(STAGE)

# Stack parameters, only when given (a parameter left out keeps its value):
# ALARM_EMAIL=ops@example.com subscribes an address to the alarms;
# CURSOR_KEY_GENERATION=2 makes the API read a rotated cursor secret;
# EDGE=false removes the CloudFront edge, EDGE=true brings it back.
# ERASURE_SENDER_ARN=arn:aws:iam::<account>:role/<name> may send erasure requests.
DEPLOY_OVERRIDES := $(if $(ALARM_EMAIL),AlarmEmail=$(ALARM_EMAIL)) $(if $(CURSOR_KEY_GENERATION),CursorKeyGeneration=$(CURSOR_KEY_GENERATION)) $(if $(EDGE),EdgeCache=$(EDGE)) $(if $(ERASURE_SENDER_ARN),ErasureSenderArn=$(ERASURE_SENDER_ARN))
DEPLOY_PARAMETERS := $(if $(strip $(DEPLOY_OVERRIDES)),--parameter-overrides $(strip $(DEPLOY_OVERRIDES)))

# The CloudFormation path (README "Deploy to AWS"). Needs the AWS CLI, credentials
# and an S3 bucket for the code; says which is missing before doing anything.
deploy:
	@test -n "$(DEPLOY_BUCKET)" || { echo "make deploy: set DEPLOY_BUCKET=<S3 bucket in the target region> for the code upload." >&2; exit 2; }
	@command -v aws >/dev/null || { echo "make deploy: the AWS CLI (aws) is not on PATH; install it (README, Deploy to AWS)." >&2; exit 2; }
	@aws sts get-caller-identity >/dev/null 2>&1 || { echo "make deploy: no usable AWS credentials (aws sts get-caller-identity failed); run aws configure or aws sso login, or set AWS_PROFILE." >&2; exit 2; }
	$(MAKE) package STAGE=$(STAGE)
	aws cloudformation package --template-file dist/$(STAGE)/sam.json \
	  --s3-bucket $(DEPLOY_BUCKET) --output-template-file dist/$(STAGE)/packaged.yaml
	aws cloudformation deploy --template-file dist/$(STAGE)/packaged.yaml \
	  --stack-name favorites-$(STAGE) --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND \
	  --no-fail-on-empty-changeset $(DEPLOY_PARAMETERS)
	aws cloudformation describe-stacks --stack-name favorites-$(STAGE) \
	  --query 'Stacks[0].Outputs' --output table

clean:
	rm -rf $(VENV) local/node_modules tests/federation/node_modules tests/stack/audit/node_modules tests/clients/node_modules tests/clients/relay/__generated__ .pytest_cache .mypy_cache .ruff_cache
