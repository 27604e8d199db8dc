#!/usr/bin/env python3
"""Writes examples/fleet/live/k8s/cluster.yaml: the fleet's cluster as `kubectl get -A -o yaml` would return it.

Every declared object appears as the API server returns it (server-populated metadata, managedFields, defaults,
status), so an unchanged object must show no drift. Then the recording differs from the declarations on purpose:

- changed:   shop/cart was edited by hand (image tag, an extra env var, a label, replicas);
- missing:   shop/legacy-search was deleted;
- unmanaged: shop/debug-shell and payments/feature-flags were created by hand;
- noise that must not show: storefront's replicas set by its HPA (owned by kube-controller-manager), owned
  ReplicaSets and Pods, kube-system's own objects, quantities written differently (1000m for 1).

Run from the repository root: python3 examples/fleet/live/generate.py (needs PyYAML).
"""
import copy
import glob
import hashlib
import json
import yaml

CREATED = "2026-09-14T08:00:00Z"
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet"}


def declared_objects():
    files = sorted(glob.glob("examples/fleet/k8s/**/*.*", recursive=True)) + sorted(glob.glob("examples/fleet/helm/*.yaml"))
    for f in files:
        text = open(f).read()
        docs = [json.loads(text)] if f.endswith(".json") else list(yaml.safe_load_all(text))
        for d in docs:
            if not d:
                continue
            for o in d.get("items", [d]) if d.get("kind", "").endswith("List") else [d]:
                yield o


def uid(o):
    h = hashlib.sha256(f"{o['kind']}/{o['metadata'].get('namespace')}/{o['metadata']['name']}".encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def server_metadata(o, manager="kubectl-client-side-apply", owned=None):
    declared = copy.deepcopy(o)
    m = o.setdefault("metadata", {})
    if o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding") and "namespace" not in m:
        m["namespace"] = "default"
    m["uid"] = uid(o)
    m["resourceVersion"] = str(int(uid(o)[:6], 16) % 900000 + 1000)
    m["creationTimestamp"] = CREATED
    if o["kind"] in WORKLOADS:
        m["generation"] = 3
    ann = m.setdefault("annotations", {})
    ann["kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(declared, separators=(",", ":")) + "\n"
    m["managedFields"] = [{"manager": manager, "operation": "Update", "apiVersion": o["apiVersion"], "time": CREATED,
                           "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:annotations": {}}, "f:spec": {}}}]
    if owned:
        m["managedFields"].append(owned)
    if o["kind"] == "Deployment":
        ann["deployment.kubernetes.io/revision"] = "3"


def pod_defaults(spec):
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        image = c.get("image", "")
        c.setdefault("imagePullPolicy", "Always" if image.endswith(":latest") or ":" not in image else "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})
        for p in c.get("ports", []):
            p.setdefault("protocol", "TCP")
        limits = c.get("resources", {}).get("limits", {})
        if limits.get("cpu") in ("1", 1):
            limits["cpu"] = "1000m"  # the same quantity, written the other way


def live(o):
    kind, spec = o["kind"], o.get("spec", {})
    if kind in WORKLOADS:
        template = spec.setdefault("template", {})
        template.setdefault("metadata", {})["creationTimestamp"] = None
        pod_defaults(template.setdefault("spec", {}))
        spec.setdefault("revisionHistoryLimit", 10)
        if kind == "Deployment":
            spec.setdefault("replicas", 1)
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault("strategy", {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
            o["status"] = {"observedGeneration": 3, "replicas": spec["replicas"], "readyReplicas": spec["replicas"],
                           "updatedReplicas": spec["replicas"], "availableReplicas": spec["replicas"]}
        if kind == "StatefulSet":
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
            o["status"] = {"replicas": spec.get("replicas", 1), "readyReplicas": spec.get("replicas", 1)}
        if kind == "DaemonSet":
            o["status"] = {"desiredNumberScheduled": 3, "numberReady": 3}
    if kind == "Service":
        spec.setdefault("type", "ClusterIP")
        if spec.get("clusterIP") != "None":
            spec["clusterIP"] = "10.96.%d.%d" % (int(uid(o)[:2], 16), int(uid(o)[2:4], 16))
        spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")
        spec.setdefault("sessionAffinity", "None")
        for p in spec.get("ports", []):
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p["port"])
        o["status"] = {"loadBalancer": {}}
    if kind == "PodDisruptionBudget":
        o["apiVersion"] = "policy/v1"  # the API server serves the stored version
        o["status"] = {"currentHealthy": 2, "desiredHealthy": 1, "disruptionsAllowed": 1, "expectedPods": 2}
    if kind == "HorizontalPodAutoscaler":
        o["status"] = {"currentReplicas": 6, "desiredReplicas": 6}
    if kind == "Namespace":
        o["spec"] = {"finalizers": ["kubernetes"]}
        o["status"] = {"phase": "Active"}
        o["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = o["metadata"]["name"]
    return o


def owned(kind, api, name, ns, owner):
    o = {"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": ns, "ownerReferences": [
        {"apiVersion": "apps/v1", "kind": owner["kind"], "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
         "controller": True, "blockOwnerDeletion": True}]}}
    server_metadata(o, manager="kube-controller-manager")
    return o


def main():
    items = []
    for o in declared_objects():
        name, kind = o["metadata"]["name"], o["kind"]
        if (kind, name) == ("Deployment", "legacy-search"):
            continue  # deleted by hand: missing
        hpa_replicas = None
        if (kind, name) == ("Deployment", "storefront"):
            hpa_replicas = {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
                            "time": CREATED, "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
        server_metadata(o, owned=hpa_replicas)
        o = live(o)
        if hpa_replicas:
            o["spec"]["replicas"] = 6
        if (kind, name) == ("Deployment", "cart"):
            # the hotfix nobody committed
            o["metadata"].setdefault("labels", {})["hotfix"] = "INC-2291"
            o["spec"]["replicas"] = 4
            c = o["spec"]["template"]["spec"]["containers"][0]
            c["image"] = c["image"].rsplit(":", 1)[0] + ":hotfix-2291"
            c.setdefault("env", []).append({"name": "CART_DEBUG", "value": "true"})
        items.append(o)
        if kind in ("Deployment", "StatefulSet"):
            rs = owned("ReplicaSet", "apps/v1", f"{name}-7c9f6d8b4", o["metadata"]["namespace"], o) if kind == "Deployment" else None
            if rs:
                items.append(rs)
            items.append(owned("Pod", "v1", f"{name}-0", o["metadata"]["namespace"], rs or o))
    handmade = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "debug-shell", "namespace": "shop"},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "debug-shell"}}, "template": {
             "metadata": {"labels": {"app": "debug-shell"}},
             "spec": {"containers": [{"name": "shell", "image": "busybox:1.36", "command": ["sleep", "infinity"]}]}}}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "feature-flags", "namespace": "payments"},
         "data": {"new_checkout": "true"}},
    ]
    for o in handmade:
        server_metadata(o, manager="kubectl-create")
        o["metadata"]["annotations"].pop("kubectl.kubernetes.io/last-applied-configuration")
        items.append(live(o))
    coredns = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "coredns", "namespace": "kube-system",
               "labels": {"k8s-app": "kube-dns"}}, "spec": {"replicas": 2, "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
               "template": {"metadata": {"labels": {"k8s-app": "kube-dns"}}, "spec": {"containers": [
                   {"name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.11.3"}]}}}}
    server_metadata(coredns, manager="kubeadm")
    items.append(live(coredns))
    for ns in ("default", "kube-system"):
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}
        server_metadata(namespace, manager="kube-apiserver")
        namespace["metadata"]["annotations"].pop("kubectl.kubernetes.io/last-applied-configuration")
        items.append(live(namespace))
    listing = {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}
    with open("examples/fleet/live/k8s/cluster.yaml", "w") as out:
        out.write("# Recorded live state of cluster shop-prod-eu, as `kubectl get -A -o yaml` returns it.\n")
        out.write("# Generated by examples/fleet/live/generate.py; see there for the drift it contains on purpose.\n")
        yaml.safe_dump(listing, out, sort_keys=False, default_flow_style=False, width=120)


main()
