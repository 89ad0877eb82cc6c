# The README's two commands: `make run` (the whole pipeline locally) and `make test`.
# Every step installs what it needs on a fresh machine and reuses its cache on the next run.

VENV := .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed
KAFKA_LIBS := .cache/kafka-libs
KAFKA_STAMP := $(KAFKA_LIBS)/.fetched
NODE_STAMP := tests/node/node_modules/.installed
DASHBOARD_VENDOR := gateway/static/vendor/chart.umd.js

.PHONY: run test test-unit constraints lint lint-js typecheck node-test pytest deps run-deps kafka-jars postgres-server \
	chromium prometheus node-deps dashboard schemas clean

run: run-deps
	$(VENV)/bin/tickstream up

test: deps lint typecheck node-test pytest

# The fast half: pure logic, no servers (seconds).
test-unit: $(STAMP)
	$(VENV)/bin/pytest -q tests/unit

# Running needs the project, the broker jars, PostgreSQL's binaries and the dashboard's library;
# the tests also need the dev tools, Chromium and the Node test clients.
run-deps: $(RUN_STAMP) $(KAFKA_STAMP) postgres-server dashboard

deps: run-deps $(STAMP) chromium prometheus node-deps

# Every install takes the versions in constraints.txt, the ones the tests last passed with.
$(RUN_STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e .
	touch $@

$(STAMP): $(RUN_STAMP)
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

# After changing a dependency in pyproject.toml: install it, run `make test`, then record the
# versions it passed with.
constraints: $(STAMP)
	{ echo "# The versions \`make\` installs (make constraints writes this file; see the Makefile)."; \
	  $(PY) -m pip freeze --exclude-editable; } > constraints.txt

# The JSON Schemas of the public topics, generated from contract/events.py (docs/topics.md).
schemas: $(RUN_STAMP)
	$(PY) -m contract.topic_schemas docs/schemas

kafka-jars: $(KAFKA_STAMP)

$(KAFKA_STAMP): pom.xml
	@command -v mvn >/dev/null || { echo "Maven is missing: apt-get install maven"; exit 1; }
	@command -v java >/dev/null || { echo "Java 17 is missing: apt-get install openjdk-17-jre-headless"; exit 1; }
	rm -rf $(KAFKA_LIBS)
	mvn -q -B -f pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(KAFKA_LIBS)
	touch $@

# Debian's PostgreSQL server binaries; the project runs its own private cluster with them (not
# needed when DATABASE_URL names your own server). Installing them needs root.
postgres-server:
	@test -n "$(DATABASE_URL)" || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  command -v initdb >/dev/null || { \
	  test "$$(id -u)" = 0 || { echo "PostgreSQL is missing: run 'sudo apt-get install postgresql'," \
	    "or set DATABASE_URL to your own server"; exit 1; }; \
	  echo "installing Debian's postgresql"; apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }

# Debian's Chromium for the dashboard's browser tests (never a downloaded browser build).
chromium:
	@test -x /usr/bin/chromium || \
	  { echo "installing Debian's chromium"; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# Debian's Prometheus (and promtool) for tests/integration/test_prometheus.py, which checks
# deploy/prometheus and deploy/grafana against a running pipeline.
prometheus:
	@test -x /usr/bin/prometheus -a -x /usr/bin/promtool || \
	  { echo "installing Debian's prometheus"; apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus; }

node-deps: $(NODE_STAMP)

$(NODE_STAMP): tests/node/package.json
	cd tests/node && npm install --no-audit --no-fund --silent
	touch $@

# The dashboard's browser libraries come from the npm registry (pinned in gateway/dashboard) and are
# copied next to the page, so the gateway serves them itself: no CDN, works offline.
dashboard: $(DASHBOARD_VENDOR)

$(DASHBOARD_VENDOR): gateway/dashboard/package.json gateway/dashboard/package-lock.json
	cd gateway/dashboard && npm ci --no-audit --no-fund --silent
	mkdir -p $(@D)
	cp gateway/dashboard/node_modules/chart.js/dist/chart.umd.js $@

lint: $(STAMP) lint-js
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

# The dashboard's own JavaScript, with ESLint pinned in gateway/dashboard (npm ci in the rule above).
lint-js: $(DASHBOARD_VENDOR)
	cd gateway/dashboard && npm run --silent lint

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The Node reporter's own tests (clients/node: no dependencies beyond Node 20).
node-test:
	cd clients/node && npm test --silent

pytest: deps
	$(VENV)/bin/pytest -ra --durations=15

clean:
	rm -rf $(VENV) .cache .tickstream tests/node/node_modules gateway/dashboard/node_modules gateway/static/vendor
