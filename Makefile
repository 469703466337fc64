# Two commands matter: `make run` and `make test`. Both install what they need first.
# `make docs` serves the documentation site (docs/, mkdocs.yml) at http://127.0.0.1:8001.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test test-under-load install bench docs clean

$(STAMP): pyproject.toml
	local/install-system.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e ".[dev,remote]"
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

run: install            ## the whole system on the embedded AWS emulator (Ctrl-C stops it)
	$(PY) -m local.stack

test: install           ## every test: unit, functional (real HTTP), end-to-end
	local/test.sh

test-under-load: install   ## every test, with `stress-ng --cpu 2` beside it for the whole run (a busy machine)
	local/test-under-load.sh

docs: install           ## the documentation site, rebuilt as you edit (the reference pages: python docs/gen.py)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve -a 127.0.0.1:8001

bench: install          ## the figures: webhook latency/throughput, deploy phases, pickup latency
	bench/run.sh

clean:
	rm -rf $(VENV) .tahobuddy/npm
