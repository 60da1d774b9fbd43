"""The scrape configuration and the Kubernetes annotations point at the ports the processes
really serve metrics on (platform_common/config.py), under the names compose gives them."""

from __future__ import annotations

from pathlib import Path

import yaml

from platform_common.config import DEFAULT_METRICS_PORTS

ROOT = Path(__file__).resolve().parents[2]
# compose / Kubernetes name -> the process's metrics key.
NAMES = {
    "order-svc": "ORDER",
    "dispute-svc": "DISPUTE",
    "evidence-svc": "EVIDENCE",
    "refund-svc": "REFUND",
    "worker-orders": "WORKER_ORDERS",
    "worker-disputes": "WORKER_DISPUTES",
    "worker-refunds": "WORKER_REFUNDS",
}


def test_prometheus_scrapes_every_process_on_its_metrics_port() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "observability" / "prometheus.yml").read_text())
    found = {
        name: sd["port"]
        for job in config["scrape_configs"]
        for sd in job["dns_sd_configs"]
        for name in sd["names"]
    }
    assert found == {name: DEFAULT_METRICS_PORTS[key] for name, key in NAMES.items()}
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    assert set(NAMES) <= set(compose["services"])


def test_every_kubernetes_pod_announces_its_metrics_port() -> None:
    for name, key in NAMES.items():
        (deployment,) = [
            d
            for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / f"{name}.yaml").read_text())
            if d["kind"] == "Deployment"
        ]
        template = deployment["spec"]["template"]
        port = DEFAULT_METRICS_PORTS[key]
        assert template["metadata"]["annotations"]["prometheus.io/port"] == str(port), name
        (container,) = template["spec"]["containers"]
        assert {"name": "metrics", "containerPort": port} in container["ports"], name
