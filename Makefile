# Enclave: `make demo` and `make test` are the two commands; each sets up what it needs.
VENV ?= .venv
PY := $(VENV)/bin/python
TEST_ENV := DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/enclave} \
	CELERY_BROKER_URL=$${TEST_BROKER_URL:-redis://127.0.0.1:6379/11} \
	ENCLAVE_VAR_DIR=$${ENCLAVE_TEST_VAR_DIR:-$(CURDIR)/.var/test}

.PHONY: setup venv docker base examples demo test bench lint messages

setup: venv docker base

venv:
	@bin/ensure-venv

docker:
	@bin/ensure-docker

base: docker
	@examples/base/build-base.sh

examples: setup
	@examples/build.sh

demo: setup
	$(PY) manage.py demo

test: setup
	$(TEST_ENV) $(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	@command -v wrk >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(PY) benchmarks/run.py

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

messages: venv
	$(PY) manage.py makemessages -l ja --ignore '.venv/*' --ignore 'examples/*'
	$(PY) manage.py compilemessages -l ja --ignore '.venv/*'
