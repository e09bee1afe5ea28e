# The two commands of the README: `make demo` and `make test`. Both create the environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# the pinned versions of every dependency (make constraints refreshes them; CONSTRAINTS= installs without)
CONSTRAINTS ?= constraints.txt
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: demo test bench clean replay constraints test-slow mutate gpu-wheels

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[dev]'
	@touch $(STAMP)

# constraints.txt afresh: the dev and peer extras resolved in a throwaway environment, frozen (the project itself left out)
constraints:
	rm -rf var/constraints-venv
	$(PYTHON) -m venv var/constraints-venv
	var/constraints-venv/bin/python -m pip install --quiet --upgrade pip
	var/constraints-venv/bin/python -m pip install --quiet -e '.[dev,peer]'
	head -n 5 constraints.txt > var/constraints.new
	var/constraints-venv/bin/python -m pip freeze --exclude-editable >> var/constraints.new
	mv var/constraints.new constraints.txt
	rm -rf var/constraints-venv

# the demo keeps its Prefect database in var/ unless you point it at your own Prefect API
demo: $(STAMP)
	@mkdir -p var/prefect  # Prefect creates its home folder but not the parents
	PREFECT_HOME=$${PREFECT_HOME:-$(CURDIR)/var/prefect} $(BIN)/recs demo

# production on a laptop: local AWS, the stack of infra/template.yaml, the nightly flow, the API until Ctrl-C
# (DAYS=dir replays one nightly run per file of dir, in order; CONFIG=file, default the sample's settings)
replay: $(STAMP)
	@mkdir -p var/prefect
	PREFECT_HOME=$${PREFECT_HOME:-$(CURDIR)/var/prefect} $(BIN)/recs replay \
		--config $(or $(CONFIG),sample_data/retail.toml) $(if $(DAYS),--days $(DAYS))

# the checks, then the tests: lint, format, types, the architecture's import rules
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# the slow tests (a whole replay, a cron run that fires, the Lambda zip on Python 3.12, recs demo): CI runs them after `make test`
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

# mutation testing of the modules that carry the promises ([tool.mutmut] in pyproject.toml), then the survivors
mutate: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/mutmut results

# the benchmark: SCALE=tiny|small|medium|large (large: 20M events, 500k users, 50k items)
bench: $(STAMP)
	$(BIN)/recs bench --scale $(or $(SCALE),small)

# wheels for `python -m benchmarks.gpu` on a GPU machine with no network (docs/benchmarks.md, "GPU")
gpu-wheels:
	bash benchmarks/gpu_wheels.sh .whl

clean:
	rm -rf $(VENV) var .pytest_cache mutants
