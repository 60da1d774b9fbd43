"""deploy/k8s/ against the Kubernetes schemas, and deploy/compose.yaml and deploy/k8s/ kept
consistent: the same image, command, environment and health probe for every process.

The schemas are the ones the kubernetes-validate package carries (no download): every object
must be valid for Kubernetes KUBERNETES_VERSION, strictly (no unknown fields).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"
PROCESSES = (
    "order-svc",
    "dispute-svc",
    "evidence-svc",
    "refund-svc",
    "worker-orders",
    "worker-disputes",
    "worker-refunds",
)
# The gRPC port each service listens on (compose checks it through its DP_*_LISTEN variable).
LISTEN = {
    "order-svc": "DP_ORDER_LISTEN",
    "dispute-svc": "DP_DISPUTE_LISTEN",
    "evidence-svc": "DP_EVIDENCE_LISTEN",
    "refund-svc": "DP_REFUND_LISTEN",
}


def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted([*K8S.glob("*.yaml"), *K8S.glob("*/*.yaml")]):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((f"{path.relative_to(K8S)}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


@pytest.mark.parametrize(("where", "doc"), manifests(), ids=[w for w, _ in manifests()])
def test_every_object_is_valid_for_kubernetes(where: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_an_unknown_field_is_refused() -> None:
    """The check can fail: a field Kubernetes does not know is an error, not ignored."""
    _, deployment = next((w, d) for w, d in manifests() if d["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def _k8s() -> tuple[dict[str, dict[str, Any]], set[str]]:
    containers, config = {}, set()
    for _, doc in manifests():
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "dispute-platform-config":
            config = set(doc["data"])
        if doc["kind"] == "Deployment":
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            containers[doc["metadata"]["name"]] = container
    return containers, config


@pytest.mark.parametrize("process", PROCESSES)
def test_compose_and_kubernetes_run_the_same_process(process: str) -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"][process]
    containers, config = _k8s()
    k8s = containers[process]
    # The same image (each names its own tag: compose the local build, kustomize the release).
    assert compose["image"].split(":-", 1)[-1].rsplit(":", 1)[0] == k8s["image"].rsplit(":", 1)[0]
    assert compose["command"] == k8s["command"]
    # The same environment: every variable compose sets reaches the pod (its own env or the
    # shared ConfigMap), and every one the pod sets itself is one compose sets.
    compose_env = set(compose["environment"])
    pod_env = {e["name"] for e in k8s.get("env", [])}
    assert compose_env - (pod_env | config) == set(), "set in compose, missing in k8s"
    assert pod_env - compose_env == set(), "set in k8s, missing in compose"
    # The same health check: the gRPC health service on the service's port, or none (workers).
    check = compose.get("healthcheck", {}).get("test")
    if process in LISTEN:
        assert check is not None and check[-1] == LISTEN[process]
        port = int(
            yaml.safe_load((K8S / "configmap.yaml").read_text())["data"][LISTEN[process]].rsplit(":")[-1]
        )
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert k8s[probe]["grpc"]["port"] == port, probe
    else:
        assert check is None and "readinessProbe" not in k8s


def test_compose_and_the_k8s_guide_register_every_search_attribute_the_code_uses() -> None:
    import re

    from platform_common.search_attributes import ALL, cli_flags

    wanted = {f.replace("=", ":") for f in cli_flags() if f != "--search-attribute"}
    assert len(wanted) == len(ALL)
    setup = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]["temporal-setup"]
    script = " ".join(setup["command"])
    listed = set(re.search(r"for sa in (.*?); do", script, re.S).group(1).replace("\\", " ").split())  # type: ignore[union-attr]
    assert listed == wanted
    guide = (K8S / "README.md").read_text()
    assert set(re.findall(r"--name (\w+) --type (\w+)", guide)) == {tuple(w.split(":")) for w in wanted}
