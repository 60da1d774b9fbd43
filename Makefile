# The two commands: `make up` starts the platform, `make test` runs every check and test.
.PHONY: up test install protos lint bench clean-data images compose-test

up: install
	.venv/bin/python -m deploy.launcher

test:
	./scripts/test.sh

install:
	./scripts/bootstrap.sh

protos: install

lint: install
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy . && (cd protos && ../.venv/bin/buf lint)

bench: install
	.venv/bin/python -m bench.orders_throughput && .venv/bin/python -m bench.refunds_throughput && .venv/bin/python -m bench.disputes_throughput && .venv/bin/python -m bench.evidence_throughput --n 500 && .venv/bin/python -m bench.event_delivery && .venv/bin/python -m bench.dispute_costs && .venv/bin/python -m bench.read_model_queries

# Every image the container tests and deploy/ need, built here from the package registries.
images: install
	./scripts/docker_engine.sh && .venv/bin/python -m deploy.images

# deploy/compose.yaml brought up for real, 20 disputes while replicas die (needs a Docker engine).
compose-test: images
	.venv/bin/python -c "from deploy.images import ensure_compose; ensure_compose()"
	.venv/bin/python -m pytest -p no:cacheprovider -m compose -s tests/compose

clean-data:
	rm -rf data
