"""The deployment files, checked without a cluster or a container engine: linted (hadolint,
yamllint), validated against their schemas (compose-spec; Kubernetes 1.34 strict, for the base
and for each overlay rendered the way kustomize would), and consistent with what they deploy:
every server flag they pass exists, ports, user and model path match the image, the autoscaling
metric is one the server exports."""
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "server"))
from missing_dependency import skip_or_fail  # noqa: E402

ROOT = os.environ.get("XQ_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("XQ_BINARY", os.path.join(ROOT, "build", "bin", "xquant"))
DEPLOY = os.path.join(ROOT, "deploy")
KUBE = os.path.join(DEPLOY, "kubernetes")
DOCKERFILES = ["docker/Dockerfile", "deploy/nginx/Dockerfile", "deploy/prometheus/Dockerfile"]
K8S_VERSION = "1.34.0"

def tool(name):
    path = shutil.which(name)
    if not path:
        skip_or_fail(f"{name} is missing; run scripts/setup.sh")
    return path


def run(*cmd):
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, f"{' '.join(cmd)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def load(path):
    with open(os.path.join(ROOT, path)) as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_dockerfiles_are_hadolint_clean(dockerfile):
    # Each exception is an inline "# hadolint ignore=" with its reason beside it.
    run(tool("hadolint"), dockerfile)


def test_yaml_is_lint_clean():
    run(tool("yamllint"), "--strict", "-c", ".yamllint", "deploy")


def test_compose_file_matches_the_compose_spec():
    run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", "deploy/compose.yaml")


# --- kustomize, the little of it these manifests use ---------------------------------------

def kustomization(directory):
    return load(os.path.join(directory, "kustomization.yaml"))


def render(directory):
    """The resources `kubectl apply -k directory` would apply: resources (recursively), labels
    (with selectors), image replacements and JSON 6902 patches."""
    import jsonpatch
    k = kustomization(directory)
    out = []
    for entry in k.get("resources", []):
        path = os.path.normpath(os.path.join(directory, entry))
        if os.path.isdir(os.path.join(ROOT, path)):
            out += render(path)
        else:
            out.append(load(path))
    for label in k.get("labels", []):
        for r in out:
            r.setdefault("metadata", {}).setdefault("labels", {}).update(label["pairs"])
            if label.get("includeSelectors") and r["kind"] == "Deployment":
                r["spec"]["selector"]["matchLabels"].update(label["pairs"])
                r["spec"]["template"]["metadata"]["labels"].update(label["pairs"])
    for image in k.get("images", []):
        for r in out:
            for c in containers(r):
                if c["image"].split(":")[0] == image["name"]:
                    c["image"] = f"{image.get('newName', image['name'])}:{image['newTag']}"
    for patch in k.get("patches", []):
        ops = load(os.path.join(directory, patch["path"]))
        target = patch["target"]
        for i, r in enumerate(out):
            if r["kind"] == target["kind"] and r["metadata"]["name"] == target["name"]:
                out[i] = jsonpatch.apply_patch(r, ops)
    return out


def containers(resource):
    if resource["kind"] != "Deployment":
        return []
    return resource["spec"]["template"]["spec"]["containers"]


def by_kind(resources, kind):
    found = [r for r in resources if r["kind"] == kind]
    assert len(found) == 1, kind
    return found[0]


OVERLAYS = ["deploy/kubernetes/base", "deploy/kubernetes/overlays/cpu",
            "deploy/kubernetes/overlays/gpu"]


@pytest.mark.parametrize("directory", OVERLAYS)
def test_rendered_manifests_pass_the_kubernetes_schemas(directory):
    import kubernetes_validate
    resources = render(directory)
    assert {r["kind"] for r in resources} == {"Deployment", "Service", "HorizontalPodAutoscaler",
                                               "PodDisruptionBudget", "ServiceMonitor"}
    for r in resources:
        if r["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # a CRD: checked by the consistency test below
        kubernetes_validate.validate(r, K8S_VERSION, strict=True)


def serve_flags():
    if not os.path.exists(BINARY):
        skip_or_fail(f"{BINARY} is missing; build first")
    return set(re.findall(r"--[a-z][a-z0-9-]*", run(BINARY, "serve", "--help")))


def dockerfile():
    with open(os.path.join(ROOT, "docker/Dockerfile")) as f:
        return f.read()


def check_serve_args(args, flags):
    assert args[0] == "serve"
    for arg in args[1:]:
        if arg.startswith("--"):
            assert arg.split("=")[0] in flags, f"xquant serve has no {arg}"
    model = next(a for a in args if a.startswith("--model"))
    model = model.split("=", 1)[1] if "=" in model else args[args.index(model) + 1]
    # The image copies the default model to /models/.
    assert re.search(rf"^COPY .*{re.escape(os.path.basename(model))} {os.path.dirname(model)}/$",
                     dockerfile(), re.M), model


@pytest.mark.parametrize("directory", OVERLAYS)
def test_manifests_agree_with_the_image_and_the_binary(directory):
    resources = render(directory)
    deployment = by_kind(resources, "Deployment")
    (c,) = containers(deployment)
    check_serve_args(c["args"], serve_flags())
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"http": 8000, "grpc": 50051}
    assert re.search(r"^EXPOSE 8000 50051$", dockerfile(), re.M)
    user = re.search(r"^USER (\d+):(\d+)$", dockerfile(), re.M)
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod["runAsNonRoot"] and str(pod["runAsUser"]) == user.group(1)
    assert c["securityContext"]["readOnlyRootFilesystem"]
    assert c["startupProbe"]["httpGet"]["path"] == "/health"
    assert c["livenessProbe"]["grpc"]["port"] == ports["grpc"]
    # Pods match the Service, the PDB and the ServiceMonitor's Service.
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for kind in ["Service", "PodDisruptionBudget"]:
        spec = by_kind(resources, kind)["spec"]
        selector = spec["selector"].get("matchLabels", spec["selector"])
        assert selector.items() <= labels.items(), kind
    service = by_kind(resources, "Service")
    monitor = by_kind(resources, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= \
        service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    # The autoscaler's metric is one the server exports.
    hpa = by_kind(resources, "HorizontalPodAutoscaler")
    metric = hpa["spec"]["metrics"][0]["pods"]["metric"]["name"]
    with open(os.path.join(ROOT, "server/core/metrics.cpp")) as f:
        assert f'"{metric}"' in f.read()
    if directory.endswith("gpu"):
        assert c["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert c["image"].startswith("xquant-cuda:")
        assert "--device=cuda" in c["args"]
    else:
        assert not any(a.startswith("--device") for a in c["args"])


def test_compose_stack_agrees_with_the_image_and_the_balancer():
    compose = load("deploy/compose.yaml")
    flags = serve_flags()
    replicas = [name for name, s in compose["services"].items() if "command" in s]
    assert len(replicas) == 2
    with open(os.path.join(DEPLOY, "nginx", "nginx.conf")) as f:
        nginx = f.read()
    with open(os.path.join(DEPLOY, "prometheus", "prometheus.yml")) as f:
        prometheus = f.read()
    for name in replicas:
        service = compose["services"][name]
        check_serve_args(service["command"], flags)
        user = re.search(r"^USER (\d+:\d+)$", dockerfile(), re.M).group(1)
        assert service["read_only"] and service["user"] == user
        for port in (8000, 50051):
            assert f"server {name}:{port}" in nginx
        assert f"{name}:8000" in prometheus


def test_cuda_image_builds_with_the_toolkit_ci_compiles_with():
    # The CUDA image installs nvcc from PyPI (docker/cuda-requirements.txt); CI compiles the same
    # sources with the machine's nvcc. Same release, or the image ships code CI never compiled.
    nvcc = shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    if not os.path.exists(nvcc):
        skip_or_fail("nvcc is missing")
    version = re.search(r"V(\d+\.\d+\.\d+)", run(nvcc, "--version")).group(1)
    with open(os.path.join(ROOT, "docker/cuda-requirements.txt")) as f:
        pins = dict(re.findall(r"^([a-z0-9-]+)==(\S+)", f.read(), re.M))
    assert pins["nvidia-cuda-nvcc"] == version
    assert pins["nvidia-cuda-runtime"].split(".")[:2] == version.split(".")[:2]
