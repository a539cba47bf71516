# The two commands a newcomer needs: `make run` and `make test`. Each creates the virtualenv and
# installs what it needs on first use (and again when pyproject.toml or requirements.txt change).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
API_PORT ?= 8000
MOTO_PORT ?= 5000

.PHONY: install run test test-fast lint bench package clean dashboard

$(STAMP): pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: the whole system on an embedded moto server (DEMO=1 loads a month of data)
run: $(STAMP) dashboard
	API_PORT=$(API_PORT) MOTO_PORT=$(MOTO_PORT) $(BIN)/plm-devstack

## make test: the whole suite, slow end-to-end tests included (CI runs exactly this)
test: $(STAMP) dashboard
	$(BIN)/ruff check .
	$(BIN)/pytest

## make test-fast: the suite without the tests marked slow
test-fast: $(STAMP) dashboard
	$(BIN)/pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## make bench: the benchmarks (bench/); the cold-start one packages the bundle, so the dashboard first
bench: $(STAMP) dashboard
	$(BIN)/python -m bench

## make package: out/deployment.zip + out/sam.json for CloudFormation (PACKAGE_STAGE=prod; README "Deploy to AWS");
## the bundle ships bytecode and leaves boto3/botocore to the Lambda runtime (README "Cold start")
PACKAGE_STAGE ?= prod
package: $(STAMP) dashboard
	$(BIN)/python -m postlaunch.package --stage $(PACKAGE_STAGE) --out out

clean:
	rm -rf $(VENV) .pytest_cache $(DASHBOARD_OUT) web/node_modules

# ---- dashboard
# web/ is built into chalicelib/static/dashboard/, which `chalice package` ships in the Lambda bundle
# (docs/dashboard.md). npm ci runs again only when the lockfile changed (npm rewrites
# node_modules/.package-lock.json on every install); the bundle only when a source changed.
DASHBOARD_OUT := chalicelib/static/dashboard
NPM_STAMP := web/node_modules/.package-lock.json

NEED_NODE := command -v node >/dev/null && command -v npm >/dev/null || { \
  echo "make: the dashboard (web/) needs Node.js and npm: apt-get install -y nodejs npm" >&2; exit 1; }

$(NPM_STAMP): web/package.json web/package-lock.json
	@$(NEED_NODE)
	cd web && npm ci --no-audit --no-fund
	touch $@

$(DASHBOARD_OUT)/index.html: $(NPM_STAMP) web/build.mjs $(wildcard web/src/*)
	@$(NEED_NODE)
	cd web && npm run --silent build

## make dashboard: build the dashboard's static files (make run, test and package do it first)
dashboard: $(DASHBOARD_OUT)/index.html
