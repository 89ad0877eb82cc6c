"""deploy/kubernetes: every object the kustomize base renders is valid against the Kubernetes
API's schemas (kubernetes-validate, strict: no unknown fields), and the base is wired right —
probes on served paths, Services that select their pods, only variables the services read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from contract.settings import ServiceSettings
from gateway.settings import GatewaySettings
from ingest.settings import IngestSettings
from sink.settings import SinkSettings
from streams.settings import WorkerSettings
from webhooks.settings import WebhookSettings

BASE = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"  # the oldest release still supported when this was written
SETTINGS: dict[str, type[ServiceSettings]] = {
    "ingest": IngestSettings,
    "worker": WorkerSettings,
    "sink": SinkSettings,
    "gateway": GatewaySettings,
    "webhooks": WebhookSettings,
    "init": SinkSettings,  # `tickstream topics create && tickstream db upgrade`
}
# each service's workload kind and the path of its readiness probe
WORKLOADS = {
    "ingest": ("Deployment", "/readyz"),
    "worker": ("StatefulSet", "/readyz"),
    "sink": ("Deployment", "/readyz"),
    "gateway": ("Deployment", "/readyz"),
    "webhooks": ("Deployment", "/healthz"),  # nor does the webhook deliverer
}


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((BASE / "kustomization.yaml").read_text("utf-8"))


def rendered() -> list[dict[str, Any]]:
    """What ``kustomize build`` gives for this base: its resources, with the image set."""
    images = {image["name"]: image for image in kustomization().get("images", [])}
    objects = []
    for resource in kustomization()["resources"]:
        for document in yaml.safe_load_all((BASE / resource).read_text("utf-8")):
            for container in containers(document):
                override = images[container["image"]]
                container["image"] = (
                    f"{override.get('newName', override['name'])}:{override['newTag']}"
                )
            objects.append(document)
    return objects


def containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document.get("spec", {}).get("template", {}).get("spec", {})
    return list(spec.get("containers", []))


def named(kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in rendered() if o["kind"] == kind and o["metadata"]["name"] == name]
    return found


def test_the_base_lists_every_manifest_of_its_folder() -> None:
    listed = set(kustomization()["resources"])
    assert listed == {path.name for path in BASE.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("index", range(12))
def test_every_object_is_valid_against_the_kubernetes_schemas(index: int) -> None:
    objects = rendered()
    assert len(objects) == 12  # a ConfigMap, a Job, five workloads and five Services
    kubernetes_validate.validate(objects[index], KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("service", list(WORKLOADS))
def test_each_service_has_its_workload_probes_resources_and_service(service: str) -> None:
    kind, readiness = WORKLOADS[service]
    workload = named(kind, f"tickstream-{service}")
    (container,) = containers(workload)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": readiness, "port": "http"}
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    env = {item["name"]: item["value"] for item in container.get("env", [])}
    assert env[f"{service.upper()}_PORT"] == str(ports["http"])
    pod_labels = workload["spec"]["template"]["metadata"]["labels"]
    assert workload["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert workload["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(
        ports["http"]
    )
    exposed = named("Service", f"tickstream-{service}")
    assert exposed["spec"]["selector"].items() <= pod_labels.items()
    assert [port["targetPort"] for port in exposed["spec"]["ports"]] == ["http"]


def test_the_worker_keeps_its_state_on_its_own_volume() -> None:
    worker = named("StatefulSet", "tickstream-worker")
    (container,) = containers(worker)
    env = {item["name"]: item["value"] for item in container["env"]}
    (mount,) = container["volumeMounts"]
    assert env["STATE_DIR"].startswith(mount["mountPath"] + "/")
    assert [claim["metadata"]["name"] for claim in worker["spec"]["volumeClaimTemplates"]] == [
        mount["name"]
    ]


def test_every_variable_given_is_one_the_service_reads() -> None:
    config = named("ConfigMap", "tickstream")["data"]
    common = {name.upper() for name in ServiceSettings.__struct_fields__}
    assert config.keys() <= common
    ServiceSettings.from_env(config)  # the values parse as well
    for document in rendered():
        for container in containers(document):
            service = container["name"]
            known = {name.upper() for name in SETTINGS[service].__struct_fields__}
            env = {item["name"]: item["value"] for item in container.get("env", [])}
            assert env.keys() <= known, service
            SETTINGS[service].from_env({**config, **env})
