# The two quick-start commands: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CONSTRAINTS := requirements/constraints-cpu.txt
STAMP := $(VENV)/.symbreak-installed

.PHONY: demo test test-all test-slow install bench clean browser refenvs fieldenv

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c $(CONSTRAINTS) -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/symbreak demo --out demo-output --overwrite

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# SYMBREAK_REQUIRE_REFENVS: a cross-check that would skip for a missing reference
# environment or browser fails instead (tests/conftest.py)
test-all: $(STAMP) browser refenvs fieldenv
	SYMBREAK_REQUIRE_REFENVS=1 $(PY) -m pytest -q -m "slow or not slow"

# Headless Chromium for the report's browser test (tests/reporting/test_browser.py):
# installed from Debian's packages when missing and running as root; otherwise the
# test skips and says why (and fails under `make test-all`).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "chromium missing and not root: the browser test will be skipped"; fi

# Reference tools for the slow cross-checks and benchmarks, each in its own virtual
# environment inside the repo (they pin old NumPy, so never beside symbreak): py4DSTEM reads
# our EMD files and times its COM, atomai's rVAE is the training reference, RosettaSciIO
# under zarr 2 writes .zspy files. A build that fails stops make with pip's last lines
# (the full log stays in .refenvs/NAME.log): `make test-all`, and so CI, never goes green
# without its cross-checks. `make test` does not need them (the cross-checks are slow tests).
REFENVS := .refenvs
$(REFENVS)/%/.built:
	@mkdir -p $(REFENVS) && rm -rf $(REFENVS)/$* && ( $(PYTHON) -m venv $(REFENVS)/$* \
		&& $(REFENVS)/$*/bin/pip install --quiet --upgrade pip \
		&& $(REFENVS)/$*/bin/pip install --quiet $(REFENV_$*) ) > $(REFENVS)/$*.log 2>&1 \
		&& touch $@ \
		|| { tail -n 20 $(REFENVS)/$*.log; \
		     echo "reference environment $* could not be built (log: $(REFENVS)/$*.log)"; exit 1; }
REFENV_py4dstem := py4DSTEM==0.14.18
REFENV_atomai := -c $(CONSTRAINTS) atomai==0.8.1 six 'numpy<2' torch==2.13.0
REFENV_rsciio_zarr2 := rosettasciio==0.15 'zarr<3' 'numpy<2' h5py

refenvs: $(REFENVS)/py4dstem/.built $(REFENVS)/atomai/.built $(REFENVS)/rsciio_zarr2/.built

# The field's environment: symbreak (editable) beside the current pyxem, HyperSpy and
# py4DSTEM, whatever versions pip resolves together (pyxem 0.21 brings zarr 2, py4DSTEM
# NumPy 1). versions.txt lists them; tests/test_field_env.py runs symbreak's zarr and
# hand-over tests inside it (slow, part of `make test-all`).
FIELDENV := $(REFENVS)/field
$(FIELDENV)/.built: pyproject.toml $(CONSTRAINTS)
	@mkdir -p $(REFENVS) && rm -rf $(FIELDENV) && ( $(PYTHON) -m venv $(FIELDENV) \
		&& $(FIELDENV)/bin/pip install --quiet --upgrade pip \
		&& $(FIELDENV)/bin/pip install --quiet -c $(CONSTRAINTS) -e '.[test,pyxem,py4dstem]' \
			'pyxem>=0.21' \
		&& $(FIELDENV)/bin/pip freeze --exclude-editable > $(FIELDENV)/versions.txt ) \
		> $(REFENVS)/field.log 2>&1 && touch $@ \
		|| { tail -n 20 $(REFENVS)/field.log; \
		     echo "the field environment could not be built (log: $(REFENVS)/field.log)"; exit 1; }

fieldenv: $(FIELDENV)/.built

bench: $(STAMP) refenvs
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) demo-output .pytest_cache
