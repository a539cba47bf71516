# The two commands a newcomer needs: `make run` and `make test`. Each creates the virtualenv and
# installs what it needs on first use (and again when pyproject.toml or requirements.txt change).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
API_PORT ?= 8000
MOTO_PORT ?= 5000

.PHONY: install run test test-fast lint bench package clean

$(STAMP): pyproject.toml requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## make run: the whole system on an embedded moto server (DEMO=1 loads a month of data)
run: $(STAMP)
	API_PORT=$(API_PORT) MOTO_PORT=$(MOTO_PORT) $(BIN)/plm-devstack

## make test: the whole suite, slow end-to-end tests included (CI runs exactly this)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

## make test-fast: the suite without the tests marked slow
test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m bench

## make package: out/deployment.zip + out/sam.json for CloudFormation (PACKAGE_STAGE=prod; README "Deploy to AWS")
PACKAGE_STAGE ?= prod
package: $(STAMP)
	$(BIN)/python -m postlaunch.package --stage $(PACKAGE_STAGE) --out out

clean:
	rm -rf $(VENV) .pytest_cache
