#!/usr/bin/env python3
"""A fake kube-apiserver for kctl's tests (stdlib only).

Speaks enough of the real Kubernetes API, with the real shapes, for kctl and
kubectl: HTTPS with a test CA, bearer-token and client-certificate auth (401,
403), discovery, Namespaces, Deployments, ReplicaSets and Pods driven by a
small controller loop (RollingUpdate with maxSurge/maxUnavailable, Recreate,
revisions, change-cause, progress deadline), strategic merge, JSON merge and
JSON patches, PUT with resourceVersion conflicts (409), watch with chunked
events, bookmarks and timeouts, Table output for kubectl get, and pod exec
over WebSocket (v5.channel.k8s.io / v4.channel.k8s.io) running `docker exec`
in the pod's real container. Pods are real Docker containers of the pod's
image, with no network, named kctl-fake-<ns>-<pod>.

Not a real apiserver: no admission, no RBAC objects, no Services, one
container runtime (the docker CLI, DOCKER_HOST from the environment).
"""

import argparse
import base64
import copy
import datetime
import hashlib
import json
import os
import queue
import random
import re
import signal
import socket
import ssl
import string
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_BODY = 8 << 20
MAX_WS_FRAME = 16 << 20
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # k8s rand.SafeEncodeString
HISTORY = 5000  # watch events kept for resourceVersion resumption
METRICS_GV = "metrics.k8s.io/v1beta1"


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def safe_hash(obj):
    h = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).digest()
    return "".join(SAFE_ALPHABET[b % len(SAFE_ALPHABET)] for b in h[:10])


def prune(o, empties=False):
    """Drops nulls (and with empties, {} and []): what Go's decoding into
    omitempty fields does, so equal templates compare equal."""
    if isinstance(o, dict):
        out = {}
        for k, v in o.items():
            v = prune(v, empties)
            if v is None or (empties and v in ({}, [])):
                continue
            out[k] = v
        return out
    if isinstance(o, list):
        return [prune(v, empties) for v in o]
    return o


def template_hash(tmpl):
    return safe_hash(prune(tmpl, empties=True))


def rand_suffix(n=5):
    return "".join(random.choice(SAFE_ALPHABET) for _ in range(n))


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        s = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
             "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            s["details"] = self.details
        return s


def not_found(resource, name):
    group = "apps" if resource in ("deployments", "replicasets") else ""
    full = resource + ("." + group if group else "")
    return ApiError(404, "NotFound", '%s "%s" not found' % (full, name),
                    {"name": name, "group": group, "kind": resource})


# ---------------------------------------------------------------- patches

# Merge keys of the lists kctl and kubectl patch (from the API's
# x-kubernetes-patch-merge-key); other lists are replaced whole.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "ports": "containerPort", "volumes": "name", "volumeMounts": "mountPath",
    "imagePullSecrets": "name", "conditions": "type", "ownerReferences": "uid",
    "hostAliases": "ip", "volumeDevices": "devicePath",
}


def json_merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = json_merge_patch(out.get(k), v)
    return out


def strategic_merge_patch(target, patch, field=None):
    """Strategic merge patch for the fields the fake knows (MERGE_KEYS), with
    the $patch, $retainKeys, $setElementOrder and $deleteFromPrimitiveList
    directives."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        p = {k: v for k, v in patch.items() if k != "$patch"}
        return copy.deepcopy(p)
    if patch.get("$patch") == "delete":
        return None
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    retain = patch.get("$retainKeys")
    orders = {}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            name = k.split("/", 1)[1]
            if isinstance(out.get(name), list):
                out[name] = [x for x in out[name] if x not in v]
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, list) and k in MERGE_KEYS and isinstance(out.get(k), list):
            out[k] = merge_list(out[k], v, MERGE_KEYS[k])
        elif isinstance(v, dict):
            r = strategic_merge_patch(out.get(k), v, k)
            if r is None:
                out.pop(k, None)
            else:
                out[k] = r
        else:
            out[k] = copy.deepcopy(v)
    for name, order in orders.items():
        key = MERGE_KEYS.get(name)
        if key and isinstance(out.get(name), list):
            pos = {o.get(key): i for i, o in enumerate(order) if isinstance(o, dict)}
            out[name].sort(key=lambda e: pos.get(e.get(key), len(pos)) if isinstance(e, dict)
                           else len(pos))
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def merge_list(cur, patch, key):
    out = copy.deepcopy(cur)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            if isinstance(item, dict) and item.get("$patch") == "replace":
                return [copy.deepcopy({k: v for k, v in i.items() if k != "$patch"})
                        for i in patch if isinstance(i, dict) and i is not item]
            out.append(copy.deepcopy(item))
            continue
        idx = next((i for i, e in enumerate(out) if isinstance(e, dict)
                    and e.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                del out[idx]
            continue
        if idx is None:
            out.append(strategic_merge_patch({}, item))
        else:
            out[idx] = strategic_merge_patch(out[idx], item)
    return out


def _ptr(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", "bad JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc, ops):
    """RFC 6902."""
    doc = copy.deepcopy(doc)
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json patch must be a list")

    def parent(d, parts):
        for p in parts[:-1]:
            d = d[int(p)] if isinstance(d, list) else d[p]
        return d

    for op in ops:
        kind, parts = op.get("op"), _ptr(op.get("path", ""))
        try:
            if kind in ("add", "replace"):
                if not parts:
                    doc = copy.deepcopy(op["value"])
                    continue
                par, last = parent(doc, parts), parts[-1]
                if isinstance(par, list):
                    if kind == "add":
                        par.insert(len(par) if last == "-" else int(last),
                                   copy.deepcopy(op["value"]))
                    else:
                        par[int(last)] = copy.deepcopy(op["value"])
                else:
                    if kind == "replace" and last not in par:
                        raise KeyError(last)
                    par[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                par, last = parent(doc, parts), parts[-1]
                del par[int(last) if isinstance(par, list) else last]
            elif kind == "test":
                d = doc
                for p in parts:
                    d = d[int(p)] if isinstance(d, list) else d[p]
                if d != op.get("value"):
                    raise ApiError(422, "Invalid", "test operation failed at %s" % op["path"])
            elif kind in ("move", "copy"):
                src = _ptr(op["from"])
                d = doc
                for p in src:
                    d = d[int(p)] if isinstance(d, list) else d[p]
                val = copy.deepcopy(d)
                if kind == "move":
                    sp = parent(doc, src)
                    del sp[int(src[-1]) if isinstance(sp, list) else src[-1]]
                doc = json_patch(doc, [{"op": "add", "path": op["path"], "value": val}])
            else:
                raise ApiError(400, "BadRequest", "unknown json patch op %r" % kind)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, "Invalid", "json patch %s %s failed: %s"
                           % (kind, op.get("path"), e))
    return doc


# ---------------------------------------------------------------- selectors

def parse_label_selector(s):
    """Equality, inequality, in/notin and existence requirements."""
    reqs = []
    if not s:
        return reqs
    for part in re.split(r",(?![^()]*\))", s):
        part = part.strip()
        if not part:
            continue
        m = re.match(r"^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$", part)
        if m:
            vals = [v.strip() for v in m.group(3).split(",")]
            reqs.append((m.group(1), m.group(2), vals))
        elif "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append((k.strip(), "!=", v.strip()))
        elif "==" in part or "=" in part:
            k, v = re.split("==?", part, 1)
            reqs.append((k.strip(), "=", v.strip()))
        elif part.startswith("!"):
            reqs.append((part[1:], "!", None))
        else:
            reqs.append((part, "exists", None))
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for k, op, v in reqs:
        if op == "=" and labels.get(k) != v:
            return False
        if op == "!=" and labels.get(k) == v:
            return False
        if op == "in" and labels.get(k) not in v:
            return False
        if op == "notin" and labels.get(k) in v:
            return False
        if op == "exists" and k not in labels:
            return False
        if op == "!" and k in labels:
            return False
    return True


def selector_to_reqs(sel):
    reqs = [(k, "=", v) for k, v in (sel or {}).get("matchLabels", {}).items()]
    for e in (sel or {}).get("matchExpressions", []):
        op = {"In": "in", "NotIn": "notin", "Exists": "exists",
              "DoesNotExist": "!"}[e["operator"]]
        reqs.append((e["key"], op, e.get("values")))
    return reqs


def field_match(fs, obj):
    for part in (fs or "").split(","):
        if not part:
            continue
        neg = "!=" in part
        k, v = re.split("!=|==?", part, 1)
        cur = obj
        for p in k.strip().split("."):
            cur = cur.get(p) if isinstance(cur, dict) else None
        if (str(cur) == v.strip()) == neg:
            return False
    return True


def int_or_percent(v, total, round_up):
    if isinstance(v, str) and v.endswith("%"):
        x = int(v[:-1]) * total / 100.0
        return int(-(-x // 1)) if round_up else int(x)
    return int(v)


# ---------------------------------------------------------------- store

RESOURCES = {
    # name: (kind, group, version, namespaced)
    "namespaces": ("Namespace", "", "v1", False),
    "pods": ("Pod", "", "v1", True),
    "deployments": ("Deployment", "apps", "v1", True),
    "replicasets": ("ReplicaSet", "apps", "v1", True),
}


def api_version(resource):
    _, g, v, _ = RESOURCES[resource]
    return g + "/" + v if g else v


class Store:
    """Objects by resource and (namespace, name); one resourceVersion counter."""

    def __init__(self):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 100
        self.objs = {r: {} for r in RESOURCES}
        self.events = []  # (rv, resource, type, obj)
        self.watchers = []

    def _emit(self, resource, etype, obj):
        self.events.append((int(obj["metadata"]["resourceVersion"]), resource, etype,
                            copy.deepcopy(obj)))
        if len(self.events) > HISTORY:
            del self.events[: len(self.events) - HISTORY]
        self.changed.notify_all()

    def next_rv(self):
        self.rv += 1
        return str(self.rv)

    def get(self, resource, ns, name):
        with self.lock:
            o = self.objs[resource].get((ns, name))
            return copy.deepcopy(o) if o else None

    def list(self, resource, ns=None):
        with self.lock:
            return [copy.deepcopy(o) for (n, _), o in sorted(self.objs[resource].items())
                    if ns is None or n == ns]

    def create(self, resource, obj):
        with self.lock:
            md = obj.setdefault("metadata", {})
            ns = md.get("namespace", "") if RESOURCES[resource][3] else ""
            if not md.get("name") and md.get("generateName"):
                md["name"] = md["generateName"] + rand_suffix()
            name = md.get("name")
            if not name:
                raise ApiError(422, "Invalid", "metadata.name: Required value")
            if (ns, name) in self.objs[resource]:
                raise ApiError(409, "AlreadyExists", '%s "%s" already exists'
                               % (resource + (".apps" if RESOURCES[resource][1] else ""), name),
                               {"name": name, "kind": resource})
            kind, g, v, namespaced = RESOURCES[resource]
            obj["kind"], obj["apiVersion"] = kind, api_version(resource)
            if namespaced:
                md["namespace"] = ns
            md["uid"] = str(uuid.uuid4())
            md["creationTimestamp"] = now_iso()
            md["resourceVersion"] = self.next_rv()
            if resource in ("deployments", "replicasets"):
                md["generation"] = 1
            self.objs[resource][(ns, name)] = obj
            self._emit(resource, "ADDED", obj)
            return copy.deepcopy(obj)

    def update(self, resource, obj, check_rv=None, status_only=False, bump_generation=True):
        """Replaces an object; check_rv (a string) must match the stored one."""
        with self.lock:
            md = obj["metadata"]
            key = (md.get("namespace", ""), md["name"])
            cur = self.objs[resource].get(key)
            if cur is None:
                raise not_found(resource, md["name"])
            if check_rv and check_rv != cur["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict",
                               'Operation cannot be fulfilled on %s%s "%s": the object has been '
                               "modified; please apply your changes to the latest version and "
                               "try again" % (resource, ".apps" if RESOURCES[resource][1] else "",
                                              md["name"]),
                               {"name": md["name"], "group": RESOURCES[resource][1],
                                "kind": resource})
            new = copy.deepcopy(obj)
            # Fields the server owns.
            for f in ("uid", "creationTimestamp", "namespace", "name"):
                if f in cur["metadata"]:
                    new["metadata"][f] = cur["metadata"][f]
            new["kind"], new["apiVersion"] = cur["kind"], cur["apiVersion"]
            if status_only:
                st = new.get("status")
                new = copy.deepcopy(cur)
                new["status"] = st
            elif "status" in cur and resource != "namespaces":
                new["status"] = copy.deepcopy(cur["status"])
            if "generation" in cur["metadata"]:
                gen = cur["metadata"]["generation"]
                if bump_generation and not status_only and new.get("spec") != cur.get("spec"):
                    gen += 1
                new["metadata"]["generation"] = gen
            if new == cur:
                return copy.deepcopy(cur)
            new["metadata"]["resourceVersion"] = self.next_rv()
            self.objs[resource][key] = new
            self._emit(resource, "MODIFIED", new)
            return copy.deepcopy(new)

    def delete(self, resource, ns, name):
        with self.lock:
            cur = self.objs[resource].pop((ns, name), None)
            if cur is None:
                raise not_found(resource, name)
            cur["metadata"]["resourceVersion"] = self.next_rv()
            self._emit(resource, "DELETED", cur)
            return cur


# ---------------------------------------------------------------- docker

class Docker:
    """Pods as real containers through the docker CLI."""

    def __init__(self, server_id, log):
        self.server_id = server_id
        self.log = log

    def name(self, ns, pod):
        return "kctl-fake-%s-%s" % (ns, pod)

    def pullable_id(self, image_id, spec_image):
        """status.containerStatuses[].imageID as the kubelet (dockershim) reports it:
        docker-pullable://REPO@DIGEST from the running image's RepoDigests (here the
        spec's repository first, as containerd picks it), else docker://IMAGE-ID.
        Cached a few seconds: refresh_pods asks for every pod several times a second."""
        cache = self.__dict__.setdefault("pullable_cache", {})
        hit = cache.get(image_id)
        if not hit or time.time() - hit[0] > 5:
            p = subprocess.run(["docker", "image", "inspect", "--format",
                                "{{json .RepoDigests}}", image_id],
                               capture_output=True, text=True, timeout=60)
            try:
                digests = (json.loads(p.stdout) or []) if p.returncode == 0 else []
            except ValueError:
                digests = []
            hit = cache[image_id] = (time.time(), digests)
        repo = spec_image.split("@")[0]
        if ":" in repo.rsplit("/", 1)[-1]:
            repo = repo.rsplit(":", 1)[0]
        for d in sorted(hit[1], key=lambda d: d.split("@")[0] != repo):
            return "docker-pullable://" + d
        return "docker://" + image_id

    def run(self, ns, pod, container):
        cmd = ["docker", "run", "-d", "--network", "none", "--name", self.name(ns, pod),
               "--label", "io.kctl.fake=" + self.server_id, "--label",
               "io.kctl.fake.pod=%s/%s" % (ns, pod)]
        for e in container.get("env", []) or []:
            if "value" in e:
                cmd += ["-e", "%s=%s" % (e["name"], e["value"])]
        if container.get("workingDir"):
            cmd += ["-w", container["workingDir"]]
        sc = container.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem"):
            cmd += ["--read-only", "--tmpfs", "/tmp"]
        if container.get("command"):
            cmd += ["--entrypoint", container["command"][0]]
        # Only the loopback registry may be pulled from: anything else must
        # already be local (network safety: no traffic off this machine).
        image = container["image"]
        local_reg = re.match(r"^(127\.0\.0\.1|localhost)(:\d+)?/", image)
        cmd += ["--pull", "missing" if local_reg else "never", image]
        if container.get("command"):
            cmd += container["command"][1:]
        cmd += container.get("args", []) or []
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout.strip(), p.stderr.strip()

    def states(self):
        """name -> (running, exit code, started at, image id)."""
        p = subprocess.run(["docker", "ps", "-a", "--filter", "label=io.kctl.fake=" +
                            self.server_id, "--format", "{{.Names}}"],
                           capture_output=True, text=True, timeout=60)
        names = p.stdout.split()
        if not names:
            return {}
        p = subprocess.run(["docker", "inspect", "--format",
                            "{{.Name}} {{.State.Running}} {{.State.ExitCode}} "
                            "{{.State.StartedAt}} {{.Image}}"] + names,
                           capture_output=True, text=True, timeout=60)
        out = {}
        for line in p.stdout.splitlines():
            f = line.split()
            if len(f) == 5:
                out[f[0].lstrip("/")] = (f[1] == "true", int(f[2]), f[3], f[4])
        return out

    def stats(self, names):
        """name -> (CPU nanocores, memory bytes, time) of the running ones, from one
        `docker stats --no-stream` (CPU over about a second, 100% = one core)."""
        p = subprocess.run(["docker", "ps", "--filter", "label=io.kctl.fake=" + self.server_id,
                            "--format", "{{.Names}}"], capture_output=True, text=True,
                           timeout=60)
        running = [n for n in names if n in set(p.stdout.split())]
        if not running:
            return {}
        p = subprocess.run(["docker", "stats", "--no-stream", "--format",
                            "{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}"] + running,
                           capture_output=True, text=True, timeout=60)
        out, t = {}, now_iso()
        units = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
                 "kB": 1000, "KB": 1000, "MB": 10 ** 6, "GB": 10 ** 9, "TB": 10 ** 12}
        for line in p.stdout.splitlines():
            f = line.split("\t")
            um = re.match(r"^\s*([0-9.]+)\s*([A-Za-z]+)", f[2]) if len(f) == 3 else None
            if not um or not f[1].strip().endswith("%") or um.group(2) not in units:
                continue  # "--" while a container starts or stops
            try:
                cpu = float(f[1].strip()[:-1])
                mem = float(um.group(1)) * units[um.group(2)]
            except ValueError:
                continue
            out[f[0]] = (int(cpu / 100 * 1e9), int(mem), t)
        return out

    def probe(self, ns, pod, command, timeout):
        try:
            p = subprocess.run(["docker", "exec", self.name(ns, pod)] + command,
                               capture_output=True, timeout=timeout)
            return p.returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def remove(self, ns, pod):
        subprocess.run(["docker", "rm", "-f", self.name(ns, pod)], capture_output=True,
                       timeout=60)

    def remove_all(self):
        p = subprocess.run(["docker", "ps", "-aq", "--filter", "label=io.kctl.fake=" +
                            self.server_id], capture_output=True, text=True, timeout=60)
        ids = p.stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f"] + ids, capture_output=True, timeout=120)


# ---------------------------------------------------------------- controllers

class Controller(threading.Thread):
    """Deployment -> ReplicaSet -> Pod reconciliation, pod status from Docker."""

    def __init__(self, store, docker, log):
        super().__init__(daemon=True)
        self.store, self.docker, self.log = store, docker, log
        self.stop = threading.Event()
        self.kick = threading.Event()
        self.starting = set()
        self.probe_state = {}  # (ns, pod) -> (time, ready, runs, last passed)
        self.last_refresh = 0.0

    def run(self):
        while not self.stop.is_set():
            try:
                self.reconcile()
            except Exception:
                self.log(traceback.format_exc())
            self.kick.wait(0.3)
            self.kick.clear()

    # -- pods
    def pod_container(self, pod):
        return pod["spec"]["containers"][0]

    def start_pod(self, ns, name):
        pod = self.store.get("pods", ns, name)
        if not pod:
            return
        rc, out, err = self.docker.run(ns, name, self.pod_container(pod))
        pod = self.store.get("pods", ns, name)
        if pod is None:  # deleted while starting
            self.docker.remove(ns, name)
            self.starting.discard((ns, name))
            return
        c = self.pod_container(pod)
        if rc != 0:
            low = err.lower()
            reason = "ErrImagePull" if ("pull" in low or "not found" in low or "no such image" in low
                                        or "unable to find image" in low) else "CreateContainerError"
            pod["status"]["containerStatuses"] = [{
                "name": c["name"], "image": c["image"], "imageID": "", "ready": False,
                "started": False, "restartCount": 0,
                "state": {"waiting": {"reason": reason, "message": err[-400:]}},
                "lastState": {}}]
            pod["status"]["conditions"] = pod_conditions(pod, False, False)
            self.docker.remove(ns, name)
        else:
            pod["status"]["phase"] = "Running"
            pod["status"]["startTime"] = pod["status"].get("startTime", now_iso())
            pod["status"]["containerStatuses"] = [{
                "name": c["name"], "image": c["image"], "imageID": "", "ready": False,
                "started": True, "restartCount": 0, "containerID": "docker://" + out,
                "state": {"running": {"startedAt": now_iso()}}, "lastState": {}}]
            pod["status"]["conditions"] = pod_conditions(pod, True, False)
        self.store.update("pods", pod, status_only=True)
        self.starting.discard((ns, name))
        self.kick.set()

    def max_unavailable(self, d):
        spec = d["spec"]
        replicas = spec.get("replicas", 1)
        st = spec.get("strategy") or {}
        if st.get("type") == "Recreate":
            return replicas
        ru = st.get("rollingUpdate") or {}
        surge = int_or_percent(ru.get("maxSurge", "25%"), replicas, True)
        unavail = int_or_percent(ru.get("maxUnavailable", "25%"), replicas, False)
        return 1 if surge == 0 and unavail == 0 else unavail

    def refresh_pods(self):
        states = self.docker.states()
        pods = self.store.list("pods")
        # Readiness probes run in parallel: each is a docker exec.
        todo = [p for p in pods if p["spec"]["containers"][0].get("readinessProbe")
                and states.get(self.docker.name(p["metadata"]["namespace"],
                                                p["metadata"]["name"]), (False,))[0]]
        threads = [threading.Thread(target=self.ready, args=(p, p["spec"]["containers"][0]))
                   for p in todo]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for pod in pods:
            md, st = pod["metadata"], pod.get("status", {})
            ns, name = md["namespace"], md["name"]
            cs = (st.get("containerStatuses") or [None])[0]
            s = states.get(self.docker.name(ns, name))
            if s is None:
                # Not in this round's listing: the container was started after the
                # listing was taken, or is being removed. Decide next round rather
                # than report a crash that did not happen.
                continue
            state = cs.get("state", {}) if cs else {}
            if not cs or "running" not in state and "terminated" not in state and not (
                    s[0] and "waiting" in state and cs.get("containerID")):
                continue
            c = self.pod_container(pod)
            new = copy.deepcopy(pod)
            ncs = new["status"]["containerStatuses"][0]
            if s[0]:
                if "running" not in ncs["state"]:
                    ncs["state"] = {"running": {"startedAt": s[2]}}
                ready = self.ready(pod, c)
                ncs["ready"] = ready
                ncs["imageID"] = self.docker.pullable_id(s[3], c["image"])
            else:
                ready = False
                ncs["ready"] = False
                code = s[1]
                ncs["state"] = {"waiting": {"reason": "CrashLoopBackOff",
                                            "message": "container exited with %d" % code}}
                ncs["lastState"] = {"terminated": {"exitCode": code, "reason": "Error"}}
            new["status"]["conditions"] = pod_conditions(new, True, ready,
                                                         pod["status"].get("conditions"))
            if new != pod:
                self.store.update("pods", new, status_only=True)

    def ready(self, pod, c):
        probe = c.get("readinessProbe")
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        if not probe:
            return True
        started = parse_iso(pod["status"].get("startTime", now_iso()))
        if time.time() - started < probe.get("initialDelaySeconds", 0):
            return False
        last = self.probe_state.get(key)
        if last and time.time() - last[0] < max(1, probe.get("periodSeconds", 10)) - 0.1:
            return last[1]
        if "exec" in probe:
            # docker exec itself can take a second or two on a busy machine.
            passed = self.docker.probe(key[0], key[1], probe["exec"]["command"],
                                       max(probe.get("timeoutSeconds", 1), 5))
        else:
            # httpGet/tcpSocket cannot reach a container without a network:
            # a running container counts as ready.
            passed = True
        # As the kubelet: ready after successThreshold passes in a row, not
        # ready after failureThreshold failures in a row.
        was = last[1] if last else False
        runs = last[2] if last and last[3] == passed else 0
        runs += 1
        if passed and runs >= probe.get("successThreshold", 1):
            ok = True
        elif not passed and runs >= probe.get("failureThreshold", 3):
            ok = False
        else:
            ok = was
        self.probe_state[key] = (time.time(), ok, runs, passed)
        return ok

    # -- replicasets
    def reconcile_rs(self, rs):
        md = rs["metadata"]
        ns = md["namespace"]
        reqs = selector_to_reqs(rs["spec"]["selector"])
        pods = [p for p in self.store.list("pods", ns)
                if labels_match(reqs, p["metadata"].get("labels"))
                and any(o.get("uid") == md["uid"] for o in p["metadata"].get("ownerReferences", []))]
        want = rs["spec"].get("replicas", 1)
        if len(pods) < want:
            for _ in range(want - len(pods)):
                self.create_pod(rs)
        elif len(pods) > want:
            # Not-ready pods go first, then the newest (as the real controller ranks them).
            pods.sort(key=lambda p: (pod_ready(p), p["metadata"]["creationTimestamp"],
                                     p["metadata"]["name"]), reverse=False)
            for p in pods[: len(pods) - want]:
                self.delete_pod(ns, p["metadata"]["name"])
        pods = [p for p in self.store.list("pods", ns)
                if any(o.get("uid") == md["uid"] for o in p["metadata"].get("ownerReferences", []))]
        ready = sum(1 for p in pods if pod_ready(p))
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods),
                  "readyReplicas": ready, "availableReplicas": ready,
                  "observedGeneration": md["generation"]}
        status = {k: v for k, v in status.items() if v or k in ("replicas", "observedGeneration")}
        if rs.get("status") != status:
            rs["status"] = status
            self.store.update("replicasets", rs, status_only=True)

    def create_pod(self, rs):
        md = rs["metadata"]
        tmpl = copy.deepcopy(rs["spec"]["template"])
        name = md["name"] + "-" + rand_suffix()
        pod = {"metadata": {"name": name, "namespace": md["namespace"],
                            "generateName": md["name"] + "-",
                            "labels": tmpl.get("metadata", {}).get("labels", {}),
                            "annotations": tmpl.get("metadata", {}).get("annotations", {}),
                            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                                 "name": md["name"], "uid": md["uid"],
                                                 "controller": True,
                                                 "blockOwnerDeletion": True}]},
               "spec": tmpl["spec"]}
        pod["spec"].setdefault("restartPolicy", "Always")
        pod["spec"]["nodeName"] = "fake-node"
        pod["status"] = {"phase": "Pending", "hostIP": "127.0.0.1", "qosClass": "BestEffort",
                         "conditions": [{"type": "PodScheduled", "status": "True",
                                         "lastProbeTime": None,
                                         "lastTransitionTime": now_iso()}]}
        if not pod["metadata"]["annotations"]:
            del pod["metadata"]["annotations"]
        self.store.create("pods", pod)
        self.starting.add((md["namespace"], name))
        threading.Thread(target=self.start_pod, args=(md["namespace"], name),
                         daemon=True).start()

    def delete_pod(self, ns, name):
        try:
            self.store.delete("pods", ns, name)
        except ApiError:
            return
        self.probe_state.pop((ns, name), None)
        threading.Thread(target=self.docker.remove, args=(ns, name), daemon=True).start()

    # -- deployments
    def reconcile_deployment(self, d):
        md, spec = d["metadata"], d["spec"]
        ns = md["namespace"]
        replicas = spec.get("replicas", 1)
        tmpl_hash = template_hash(spec["template"])
        all_rs = [rs for rs in self.store.list("replicasets", ns)
                  if any(o.get("uid") == md["uid"] and o.get("controller")
                         for o in rs["metadata"].get("ownerReferences", []))]
        new_rs = None
        for rs in all_rs:
            t = copy.deepcopy(rs["spec"]["template"])
            t.get("metadata", {}).get("labels", {}).pop("pod-template-hash", None)
            if template_hash(t) == tmpl_hash:
                new_rs = rs
        old = [rs for rs in all_rs if rs is not new_rs]
        max_rev = max([int(rs["metadata"].get("annotations", {}).get(
            "deployment.kubernetes.io/revision", "0")) for rs in old] + [0])
        change_cause = md.get("annotations", {}).get("kubernetes.io/change-cause")
        strategy = spec.get("strategy", {}) or {}
        ru = strategy.get("rollingUpdate", {}) or {}
        surge = int_or_percent(ru.get("maxSurge", "25%"), replicas, True)
        unavail = int_or_percent(ru.get("maxUnavailable", "25%"), replicas, False)
        if surge == 0 and unavail == 0:
            unavail = 1
        recreate = strategy.get("type") == "Recreate"
        if recreate:
            surge, unavail = 0, replicas

        if spec.get("paused"):
            return
        if new_rs is None:
            tmpl = copy.deepcopy(spec["template"])
            tmpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = tmpl_hash
            sel = copy.deepcopy(spec["selector"])
            sel.setdefault("matchLabels", {})["pod-template-hash"] = tmpl_hash
            ann = {"deployment.kubernetes.io/revision": str(max_rev + 1),
                   "deployment.kubernetes.io/desired-replicas": str(replicas),
                   "deployment.kubernetes.io/max-replicas": str(replicas + surge)}
            if change_cause:
                ann["kubernetes.io/change-cause"] = change_cause
            labels = dict(tmpl["metadata"]["labels"])
            rs = {"metadata": {"name": "%s-%s" % (md["name"], tmpl_hash), "namespace": ns,
                               "labels": labels, "annotations": ann,
                               "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                    "name": md["name"], "uid": md["uid"],
                                                    "controller": True,
                                                    "blockOwnerDeletion": True}]},
                  "spec": {"replicas": 0, "selector": sel, "template": tmpl,
                           "minReadySeconds": spec.get("minReadySeconds", 0)},
                  "status": {"replicas": 0}}
            new_rs = self.store.create("replicasets", rs)
            self.set_progress(d, "True", "NewReplicaSetCreated",
                              'Created new replica set "%s"' % rs["metadata"]["name"])
        else:
            ann = new_rs["metadata"].setdefault("annotations", {})
            rev = int(ann.get("deployment.kubernetes.io/revision", "0"))
            changed = False
            if rev <= max_rev:  # an older template came back (rollback): newest revision
                ann["deployment.kubernetes.io/revision"] = str(max_rev + 1)
                changed = True
            if change_cause and ann.get("kubernetes.io/change-cause") != change_cause:
                ann["kubernetes.io/change-cause"] = change_cause
                changed = True
            if changed:
                new_rs = self.store.update("replicasets", new_rs)
        rev = new_rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        if md.get("annotations", {}).get("deployment.kubernetes.io/revision") != rev:
            d.setdefault("metadata", {}).setdefault("annotations", {})[
                "deployment.kubernetes.io/revision"] = rev
            d = self.store.update("deployments", d, bump_generation=False)
            md = d["metadata"]

        def spec_r(rs):
            return rs["spec"].get("replicas", 0)

        def avail(rs):
            return (rs.get("status") or {}).get("availableReplicas", 0)

        old_active = [rs for rs in old if spec_r(rs) > 0]
        if recreate:
            if old_active:
                for rs in old_active:
                    self.scale(rs, 0)
            elif not any(p for rs in old for p in self.pods_of(rs)) and spec_r(new_rs) != replicas:
                self.scale(new_rs, replicas)
        else:
            total = sum(spec_r(rs) for rs in all_rs)
            # Scale up the new ReplicaSet within maxSurge.
            if spec_r(new_rs) < replicas:
                room = replicas + surge - total
                if room > 0:
                    self.scale(new_rs, min(replicas, spec_r(new_rs) + room))
            elif spec_r(new_rs) > replicas:
                self.scale(new_rs, replicas)
            new_rs = self.store.get("replicasets", ns, new_rs["metadata"]["name"]) or new_rs
            # Scale down old ones within maxUnavailable.
            total = sum(spec_r(self.store.get("replicasets", ns, rs["metadata"]["name"]) or rs)
                        for rs in all_rs)
            min_avail = replicas - unavail
            new_unavail = spec_r(new_rs) - avail(new_rs)
            budget = total - min_avail - new_unavail
            # Unhealthy old replicas go first: removing them costs no availability.
            for rs in old_active:
                unhealthy = spec_r(rs) - avail(rs)
                if budget <= 0 or unhealthy <= 0:
                    continue
                n = min(budget, unhealthy)
                self.scale(rs, spec_r(rs) - n)
                rs["spec"]["replicas"] = spec_r(rs) - n
                budget -= n
            all_avail = sum(avail(rs) for rs in all_rs)
            budget = all_avail - min_avail
            for rs in old_active:
                if budget <= 0:
                    break
                cur = spec_r(self.store.get("replicasets", ns, rs["metadata"]["name"]) or rs)
                n = min(budget, cur)
                if n > 0:
                    self.scale(rs, cur - n)
                    budget -= n
        # History limit: drop the oldest empty ReplicaSets.
        limit = spec.get("revisionHistoryLimit", 10)
        empty = sorted([rs for rs in old if spec_r(rs) == 0 and not self.pods_of(rs)],
                       key=lambda r: int(r["metadata"].get("annotations", {}).get(
                           "deployment.kubernetes.io/revision", "0")))
        for rs in empty[: max(0, len(empty) - limit)]:
            try:
                self.store.delete("replicasets", ns, rs["metadata"]["name"])
            except ApiError:
                pass
        self.update_deployment_status(ns, md["name"], unavail)

    def pods_of(self, rs):
        uid = rs["metadata"]["uid"]
        return [p for p in self.store.list("pods", rs["metadata"]["namespace"])
                if any(o.get("uid") == uid for o in p["metadata"].get("ownerReferences", []))]

    def scale(self, rs, n):
        cur = self.store.get("replicasets", rs["metadata"]["namespace"], rs["metadata"]["name"])
        if cur and cur["spec"].get("replicas") != n:
            cur["spec"]["replicas"] = n
            self.store.update("replicasets", cur)

    def set_progress(self, d, status, reason, message):
        cur = self.store.get("deployments", d["metadata"]["namespace"], d["metadata"]["name"])
        if not cur:
            return
        st = cur.setdefault("status", {})
        conds = st.setdefault("conditions", [])
        set_condition(conds, "Progressing", status, reason, message)
        self.store.update("deployments", cur, status_only=True)

    def update_deployment_status(self, ns, name, max_unavail):
        d = self.store.get("deployments", ns, name)
        if not d:
            return
        md, spec = d["metadata"], d["spec"]
        replicas = spec.get("replicas", 1)
        all_rs = [rs for rs in self.store.list("replicasets", ns)
                  if any(o.get("uid") == md["uid"] for o in rs["metadata"].get("ownerReferences", []))]
        rev = md.get("annotations", {}).get("deployment.kubernetes.io/revision")
        new_rs = next((rs for rs in all_rs if rs["metadata"].get("annotations", {}).get(
            "deployment.kubernetes.io/revision") == rev), None)
        tot = sum((rs.get("status") or {}).get("replicas", 0) for rs in all_rs)
        ready = sum((rs.get("status") or {}).get("readyReplicas", 0) for rs in all_rs)
        avail = sum((rs.get("status") or {}).get("availableReplicas", 0) for rs in all_rs)
        updated = (new_rs.get("status") or {}).get("replicas", 0) if new_rs else 0
        old = dict(d.get("status") or {})
        st = {"observedGeneration": md["generation"], "replicas": tot, "updatedReplicas": updated,
              "readyReplicas": ready, "availableReplicas": avail,
              "unavailableReplicas": max(0, tot - avail)}
        st = {k: v for k, v in st.items() if v or k == "observedGeneration"}
        conds = copy.deepcopy(old.get("conditions", []))
        if avail >= replicas - max_unavail:
            set_condition(conds, "Available", "True", "MinimumReplicasAvailable",
                          "Deployment has minimum availability.")
        else:
            set_condition(conds, "Available", "False", "MinimumReplicasUnavailable",
                          "Deployment does not have minimum availability.")
        complete = (updated == replicas and avail == replicas and tot == replicas
                    and new_rs is not None)
        prog = next((c for c in conds if c["type"] == "Progressing"), None)
        rsname = new_rs["metadata"]["name"] if new_rs else ""
        progressed = any(old.get(k, 0) != st.get(k, 0) for k in
                         ("updatedReplicas", "availableReplicas", "readyReplicas", "replicas"))
        deadline = spec.get("progressDeadlineSeconds", 600)
        if complete:
            set_condition(conds, "Progressing", "True", "NewReplicaSetAvailable",
                          'ReplicaSet "%s" has successfully progressed.' % rsname)
        elif progressed or prog is None or (prog["status"] == "True" and prog["reason"]
                                             == "NewReplicaSetAvailable"):
            set_condition(conds, "Progressing", "True", "ReplicaSetUpdated",
                          'ReplicaSet "%s" is progressing.' % rsname, touch=True)
        elif prog["status"] == "True" and time.time() - parse_iso(
                prog["lastUpdateTime"]) > deadline:
            set_condition(conds, "Progressing", "False", "ProgressDeadlineExceeded",
                          'ReplicaSet "%s" has timed out progressing.' % rsname)
        st["conditions"] = conds
        if st != old:
            d["status"] = st
            self.store.update("deployments", d, status_only=True)

    def reconcile(self):
        # Pods first, so one pass carries readiness up to the Deployment and
        # the Deployment's scaling down to new pods.
        # Docker is asked at most once a second: each CLI call costs CPU.
        if time.time() - self.last_refresh >= 1.0:
            self.last_refresh = time.time()
            self.refresh_pods()
        for rs in self.store.list("replicasets"):
            self.reconcile_rs(rs)
        for d in self.store.list("deployments"):
            self.reconcile_deployment(d)
        for rs in self.store.list("replicasets"):
            self.reconcile_rs(rs)
        for d in self.store.list("deployments"):
            self.update_deployment_status(d["metadata"]["namespace"], d["metadata"]["name"],
                                          self.max_unavailable(d))
        # Pods whose ReplicaSet is gone are garbage-collected.
        rs_uids = {rs["metadata"]["uid"] for rs in self.store.list("replicasets")}
        for p in self.store.list("pods"):
            owners = [o for o in p["metadata"].get("ownerReferences", []) if o.get("controller")]
            if owners and owners[0]["uid"] not in rs_uids:
                self.delete_pod(p["metadata"]["namespace"], p["metadata"]["name"])
        d_uids = {d["metadata"]["uid"] for d in self.store.list("deployments")}
        for rs in self.store.list("replicasets"):
            owners = [o for o in rs["metadata"].get("ownerReferences", []) if o.get("controller")]
            if owners and owners[0]["uid"] not in d_uids:
                try:
                    self.store.delete("replicasets", rs["metadata"]["namespace"],
                                      rs["metadata"]["name"])
                except ApiError:
                    pass


def set_condition(conds, ctype, status, reason, message, touch=False):
    t = now_iso()
    for c in conds:
        if c["type"] == ctype:
            if c["status"] != status:
                c["lastTransitionTime"] = t
            if c["status"] != status or c["reason"] != reason or touch:
                c["lastUpdateTime"] = t
            c.update(status=status, reason=reason, message=message)
            return
    conds.append({"type": ctype, "status": status, "lastUpdateTime": t,
                  "lastTransitionTime": t, "reason": reason, "message": message})


def pod_ready(p):
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in (p.get("status") or {}).get("conditions", []))


def pod_conditions(pod, initialized, ready, old=None):
    old = {c["type"]: c for c in (old or [])}
    out = []
    for t, s in (("Initialized", initialized), ("Ready", ready), ("ContainersReady", ready),
                 ("PodScheduled", True)):
        st = "True" if s else "False"
        prev = old.get(t)
        ltt = prev["lastTransitionTime"] if prev and prev["status"] == st else now_iso()
        out.append({"type": t, "status": st, "lastProbeTime": None, "lastTransitionTime": ltt})
    return out


# ---------------------------------------------------------------- websocket

class WsConn:
    """Server side of RFC 6455 on a socket (client frames must be masked)."""

    def __init__(self, rfile, wfile, chaos, stats):
        self.r, self.w = rfile, wfile
        self.wlock = threading.Lock()
        self.chaos, self.stats = chaos, stats
        self.closed = False

    def _write(self, data):
        with self.wlock:
            if self.chaos:
                # Split writes at random points so the client reassembles.
                i = 0
                while i < len(data):
                    n = random.randint(1, 7) if random.random() < 0.3 else random.randint(1, 65536)
                    self.w.write(data[i:i + n])
                    self.w.flush()
                    i += n
            else:
                self.w.write(data)
                self.w.flush()

    @staticmethod
    def frame(op, payload, fin=True):
        n = len(payload)
        b = bytes([(0x80 if fin else 0) | op])
        if n <= 125:
            b += bytes([n])
        elif n <= 0xFFFF:
            b += bytes([126]) + n.to_bytes(2, "big")
        else:
            b += bytes([127]) + n.to_bytes(8, "big")
        return b + payload

    def send(self, payload, op=2):
        if self.closed:
            return
        if self.chaos and len(payload) > 2:
            # Fragment the message, with a ping between fragments.
            a = random.randint(1, len(payload) - 1)
            data = self.frame(op, payload[:a], fin=False) + self.frame(9, b"chaos")
            data += self.frame(0, payload[a:], fin=True)
            self.stats["pings_sent"] += 1
        else:
            data = self.frame(op, payload)
        self._write(data)

    def read_exact(self, n):
        b = b""
        while len(b) < n:
            c = self.r.read(n - len(b))
            if not c:
                raise EOFError
            b += c
        return b

    def recv(self):
        """Next (opcode, payload) of a data message; control frames handled."""
        msg, mop = b"", None
        while True:
            h = self.read_exact(2)
            fin, op, masked, n = h[0] & 0x80, h[0] & 0x0F, h[1] & 0x80, h[1] & 0x7F
            if h[0] & 0x70 or not masked:
                raise ValueError("bad client frame")
            if n == 126:
                n = int.from_bytes(self.read_exact(2), "big")
            elif n == 127:
                n = int.from_bytes(self.read_exact(8), "big")
            if n > MAX_WS_FRAME:
                raise ValueError("frame too large")
            key = self.read_exact(4)
            data = bytearray(self.read_exact(n))
            for i in range(n):
                data[i] ^= key[i & 3]
            data = bytes(data)
            if op == 9:
                self._write(self.frame(10, data))
            elif op == 10:
                self.stats["pongs_received"] += 1
            elif op == 8:
                return 8, data
            else:
                if op != 0:
                    mop = op
                msg += data
                if fin:
                    return mop, msg

    def close(self, code=1000):
        if not self.closed:
            try:
                self._write(self.frame(8, code.to_bytes(2, "big")))
            except OSError:
                pass
            self.closed = True


# ---------------------------------------------------------------- HTTP

DISCOVERY_V1 = [
    ("namespaces", "Namespace", False, ["create", "delete", "get", "list", "patch", "update",
                                        "watch"], ["ns"]),
    ("pods", "Pod", True, ["create", "delete", "deletecollection", "get", "list", "patch",
                           "update", "watch"], ["po"]),
    ("pods/exec", "PodExecOptions", True, ["create", "get"], None),
    ("pods/status", "Pod", True, ["get", "patch", "update"], None),
]
DISCOVERY_APPS = [
    ("deployments", "Deployment", True, ["create", "delete", "deletecollection", "get", "list",
                                         "patch", "update", "watch"], ["deploy"]),
    ("deployments/status", "Deployment", True, ["get", "patch", "update"], None),
    ("deployments/scale", "Scale", True, ["get", "patch", "update"], None),
    ("replicasets", "ReplicaSet", True, ["create", "delete", "deletecollection", "get", "list",
                                         "patch", "update", "watch"], ["rs"]),
    ("replicasets/status", "ReplicaSet", True, ["get", "patch", "update"], None),
]


# With --advertise-unserved, discovery also lists these (kubectl's client-side dry run
# needs a REST mapping for every kind in manifests/), but the fake stores none of them:
# GET by name is 404 (true: there is no such object), anything else is 405.
UNSERVED = {
    "v1": [("services", "Service", True, ["create", "get", "list"], ["svc"]),
           ("serviceaccounts", "ServiceAccount", True, ["create", "get", "list"], ["sa"]),
           ("configmaps", "ConfigMap", True, ["create", "get", "list"], ["cm"])],
    "batch/v1": [("jobs", "Job", True, ["create", "get", "list"], None),
                 ("cronjobs", "CronJob", True, ["create", "get", "list"], ["cj"])],
    "rbac.authorization.k8s.io/v1": [
        ("roles", "Role", True, ["create", "get", "list"], None),
        ("rolebindings", "RoleBinding", True, ["create", "get", "list"], None)],
}
UNSERVED_RE = re.compile(r"^/(?:api/v1|apis/(?:batch|rbac\.authorization\.k8s\.io)/v1)"
                         r"/namespaces/[^/]+/(services|serviceaccounts|configmaps|jobs|cronjobs|"
                         r"roles|rolebindings)(?:/([^/]+))?$")


def resource_list(gv, items):
    res = []
    for name, kind, namespaced, verbs, short in items:
        r = {"name": name, "singularName": "" if "/" in name else kind.lower(),
             "namespaced": namespaced, "kind": kind, "verbs": verbs}
        if short:
            r["shortNames"] = short
        if name in ("pods", "deployments", "replicasets"):
            r["categories"] = ["all"]
        if name == "deployments/scale":
            r.update(group="autoscaling", version="v1")
        res.append(r)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res}


def age(ts):
    s = int(time.time() - parse_iso(ts))
    return "%ds" % s if s < 120 else "%dm" % (s // 60) if s < 7200 else "%dh" % (s // 3600)


TABLE_COLUMNS = {
    "deployments": [("Name", "string", "name"), ("Ready", "string", ""),
                    ("Up-to-date", "integer", ""), ("Available", "integer", ""),
                    ("Age", "string", "")],
    "replicasets": [("Name", "string", "name"), ("Desired", "integer", ""),
                    ("Current", "integer", ""), ("Ready", "integer", ""), ("Age", "string", "")],
    "pods": [("Name", "string", "name"), ("Ready", "string", ""), ("Status", "string", ""),
             ("Restarts", "string", ""), ("Age", "string", "")],
    "namespaces": [("Name", "string", "name"), ("Status", "string", ""), ("Age", "string", "")],
}


def table_cells(resource, o):
    md, st, sp = o["metadata"], o.get("status") or {}, o.get("spec") or {}
    a = age(md["creationTimestamp"])
    if resource == "deployments":
        return [md["name"], "%d/%d" % (st.get("readyReplicas", 0), sp.get("replicas", 1)),
                st.get("updatedReplicas", 0), st.get("availableReplicas", 0), a]
    if resource == "replicasets":
        return [md["name"], sp.get("replicas", 0), st.get("replicas", 0),
                st.get("readyReplicas", 0), a]
    if resource == "pods":
        cs = st.get("containerStatuses") or []
        ready = sum(1 for c in cs if c.get("ready"))
        status = st.get("phase", "Pending")
        for c in cs:
            w = c.get("state", {}).get("waiting")
            if w:
                status = w.get("reason", status)
        return [md["name"], "%d/%d" % (ready, len(sp.get("containers", []))), status,
                str(sum(c.get("restartCount", 0) for c in cs)), a]
    return [md["name"], "Active", a]


def to_table(resource, objs, rv, version):
    cols = [{"name": n, "type": t, "format": f, "description": n, "priority": 0}
            for n, t, f in TABLE_COLUMNS[resource]]
    rows = []
    for o in objs:
        meta = copy.deepcopy(o["metadata"])
        rows.append({"cells": table_cells(resource, o),
                     "object": {"kind": "PartialObjectMetadata",
                                "apiVersion": "meta.k8s.io/" + version, "metadata": meta}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/" + version,
            "metadata": {"resourceVersion": rv}, "columnDefinitions": cols, "rows": rows}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kctl-fake-apiserver"

    def log_message(self, fmt, *args):
        self.server.app.log("%s %s" % (self.address_string(), fmt % args))

    # -- plumbing
    def send_json(self, code, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error_status(self, e):
        self.send_json(e.code, e.status())

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ApiError(413, "RequestEntityTooLarge", "request body too large")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
                if len(data) > MAX_BODY:
                    raise ApiError(413, "RequestEntityTooLarge", "request body too large")
            return data
        return self.rfile.read(n) if n else b""

    def json_body(self):
        raw = self.read_body()
        try:
            return json.loads(raw or b"null")
        except ValueError as e:
            raise ApiError(400, "BadRequest", "invalid JSON body: %s" % e)

    def authenticate(self):
        app = self.server.app
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            user = app.tokens.get(auth[7:].strip())
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            return user
        cert = self.connection.getpeercert() if hasattr(self.connection, "getpeercert") else None
        if cert:
            for rdn in cert.get("subject", ()):
                for k, v in rdn:
                    if k == "commonName":
                        return v
        raise ApiError(401, "Unauthorized", "Unauthorized")

    def authorize(self, user, verb, resource, ns):
        if user in self.server.app.forbidden_users or (
                user in self.server.app.readonly_users and verb not in ("get", "list", "watch")):
            base = resource.split("/")[0]
            group = RESOURCES.get(base, ("", "", "", ""))[1]
            raise ApiError(403, "Forbidden",
                           '%s%s is forbidden: User "%s" cannot %s resource "%s" in API group '
                           '"%s"%s' % (base, "." + group if group else "", user, verb, base,
                              RESOURCES.get(resource.split("/")[0], ("", "", "", ""))[1],
                              ' in the namespace "%s"' % ns if ns else " at the cluster scope"),
                           {"kind": resource})

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        app = self.server.app
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        path = u.path.rstrip("/") or "/"
        try:
            if path in ("/healthz", "/readyz", "/livez"):
                body = b"ok"
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(body)
                return
            user = self.authenticate()
            if path == "/fakez/stats":
                if "reset_exec_peak" in q:  # peak of open exec connections, from now on
                    with app.exec_lock:
                        app.stats["exec_peak"] = 0
                return self.send_json(200, app.stats)
            if path == "/version":
                return self.send_json(200, app.version)
            if path == "/api":
                return self.send_json(200, {"kind": "APIVersions", "versions": ["v1"],
                                            "serverAddressByClientCIDRs": [{
                                                "clientCIDR": "0.0.0.0/0",
                                                "serverAddress": "127.0.0.1:%d" % app.port}]})
            if path == "/apis":
                groups = []
                for g in ["apps"] + (["batch", "rbac.authorization.k8s.io"]
                                     if app.advertise_unserved else []):
                    gv = {"groupVersion": g + "/v1", "version": "v1"}
                    groups.append({"name": g, "versions": [gv], "preferredVersion": gv})
                if app.serve_metrics:
                    gv = {"groupVersion": METRICS_GV, "version": "v1beta1"}
                    groups.append({"name": "metrics.k8s.io", "versions": [gv],
                                   "preferredVersion": gv})
                return self.send_json(200, {"kind": "APIGroupList", "apiVersion": "v1",
                                            "groups": groups})
            if app.serve_metrics and path.startswith("/apis/metrics.k8s.io"):
                return self.metrics(user, path, q)
            if path == "/api/v1":
                return self.send_json(200, resource_list(
                    "v1", DISCOVERY_V1 + (UNSERVED["v1"] if app.advertise_unserved else [])))
            if app.advertise_unserved:
                for g in ("batch", "rbac.authorization.k8s.io"):
                    gv = {"groupVersion": g + "/v1", "version": "v1"}
                    if path == "/apis/" + g:
                        return self.send_json(200, {"kind": "APIGroup", "apiVersion": "v1",
                                                    "name": g, "versions": [gv],
                                                    "preferredVersion": gv})
                    if path == "/apis/" + g + "/v1":
                        return self.send_json(200, resource_list(g + "/v1", UNSERVED[g + "/v1"]))
                um = UNSERVED_RE.match(path)
                if um:
                    if method == "GET" and um.group(2):
                        raise ApiError(404, "NotFound", '%s "%s" not found'
                                       % (um.group(1), um.group(2)))
                    raise ApiError(405, "MethodNotAllowed", "the fake apiserver only "
                                   "advertises %s (for client-side dry runs)" % um.group(1))
            if path == "/apis/apps":
                gv = {"groupVersion": "apps/v1", "version": "v1"}
                return self.send_json(200, {"kind": "APIGroup", "apiVersion": "v1",
                                            "name": "apps", "versions": [gv],
                                            "preferredVersion": gv})
            if path == "/apis/apps/v1":
                return self.send_json(200, resource_list("apps/v1", DISCOVERY_APPS))
            m = re.match(r"^/(?:api/v1|apis/apps/v1)(?:/namespaces/([^/]+))?/([a-z]+)"
                         r"(?:/([^/]+))?(?:/([a-z]+))?$", path)
            if not m:
                raise ApiError(404, "NotFound", "the server could not find the requested "
                               "resource")
            ns, resource, name, sub = m.groups()
            if resource == "namespaces" and ns is None and name is None and False:
                pass
            # /api/v1/namespaces/NAME is the namespace itself.
            if ns and resource is None:
                resource, name = "namespaces", ns
            group = "apps" if path.startswith("/apis/apps/") else ""
            if resource not in RESOURCES or RESOURCES[resource][1] != group:
                raise ApiError(404, "NotFound", "the server could not find the requested "
                               "resource")
            if resource == "namespaces":
                ns = None
            verb = {"GET": "get" if name else ("watch" if q.get("watch", [""])[0] in
                                               ("1", "true") else "list"),
                    "POST": "create", "PUT": "update", "PATCH": "patch",
                    "DELETE": "delete"}[method]
            if sub == "exec":
                verb = "create"
            self.authorize(user, verb, resource + ("/" + sub if sub else ""), ns)
            app.stats["requests"] += 1
            if sub == "exec" and resource == "pods":
                return self.exec_pod(ns, name, q)
            if sub not in (None, "status", "scale"):
                raise ApiError(404, "NotFound", "the server could not find the requested "
                               "resource")
            if method == "GET" and name is None:
                if verb == "watch":
                    return self.watch(resource, ns, q)
                return self.list(resource, ns, q)
            if method == "GET":
                return self.get_one(resource, ns, name, sub)
            if method == "POST" and name is None:
                return self.create(resource, ns)
            if method == "PUT" and name:
                return self.replace(resource, ns, name, sub)
            if method == "PATCH" and name:
                return self.patch(resource, ns, name, sub, q)
            if method == "DELETE" and name:
                return self.delete(resource, ns, name, q)
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method "
                           "on the requested resource")
        except ApiError as e:
            if e.code == 401:
                app.stats["unauthorized"] += 1
            self.send_error_status(e)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        except Exception as e:
            app.log(traceback.format_exc())
            self.send_error_status(ApiError(500, "InternalError", "internal error: %s" % e))

    # -- verbs
    def ns_of(self, resource, ns):
        return ns if RESOURCES[resource][3] else ""

    def get_one(self, resource, ns, name, sub):
        store = self.server.app.store
        o = store.get(resource, self.ns_of(resource, ns), name)
        if o is None:
            if resource == "namespaces" and name in self.server.app.namespaces():
                o = self.server.app.namespace_obj(name)
            else:
                raise not_found(resource, name)
        if sub == "scale":
            o = scale_of(o)
        self.send_json(200, self.maybe_table(resource, [o], o["metadata"].get(
            "resourceVersion", ""), single=True))

    def maybe_table(self, resource, objs, rv, single=False, list_obj=None):
        accept = self.headers.get("Accept", "")
        m = re.search(r"as=Table;v=(v1beta1|v1);g=meta\.k8s\.io", accept)
        if m and resource in TABLE_COLUMNS:
            return to_table(resource, objs, rv, m.group(1))
        if single:
            return objs[0]
        return list_obj

    def list(self, resource, ns, q):
        app = self.server.app
        with app.store.lock:
            objs = self.filtered(resource, ns, q)
            rv = str(app.store.rv)
        kind = RESOURCES[resource][0]
        lst = {"kind": kind + "List", "apiVersion": api_version(resource),
               "metadata": {"resourceVersion": rv}, "items": objs}
        self.send_json(200, self.maybe_table(resource, objs, rv, list_obj=lst))

    def filtered(self, resource, ns, q):
        app = self.server.app
        if resource == "namespaces":
            objs = [app.namespace_obj(n) for n in app.namespaces()]
        else:
            objs = app.store.list(resource, ns)
        lreqs = parse_label_selector(q.get("labelSelector", [""])[0])
        fs = q.get("fieldSelector", [""])[0]
        return [o for o in objs if labels_match(lreqs, o["metadata"].get("labels"))
                and field_match(fs, o)]

    def watch(self, resource, ns, q):
        """Chunked stream of watch events, as the real server sends them."""
        app = self.server.app
        store = app.store
        lreqs = parse_label_selector(q.get("labelSelector", [""])[0])
        fs = q.get("fieldSelector", [""])[0]
        rv = q.get("resourceVersion", [""])[0]
        bookmarks = q.get("allowWatchBookmarks", [""])[0] in ("1", "true")
        timeout = float(q.get("timeoutSeconds", ["1800"])[0] or 1800)
        deadline = time.time() + timeout

        def matches(res, o):
            return (res == resource and (ns is None or o["metadata"].get("namespace") == ns)
                    and labels_match(lreqs, o["metadata"].get("labels")) and field_match(fs, o))

        with store.lock:
            if rv and rv != "0":
                start = int(rv)
                oldest = store.events[0][0] if store.events else store.rv + 1
                if start < oldest - 1 and start < store.rv:
                    initial = None
                    expired = True
                else:
                    initial, expired = [], False
            else:
                start, expired = store.rv, False
                initial = [("ADDED", o) for o in self.filtered(resource, ns, q)]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

        def chunk(obj):
            data = json.dumps(obj).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        app.stats["watches"] += 1
        try:
            if expired:
                chunk({"type": "ERROR", "object": {
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "too old resource version: %s (%d)" % (rv, store.rv),
                    "reason": "Expired", "code": 410}})
                return self.end_chunks()
            for t, o in initial or []:
                chunk({"type": t, "object": o})
            last = start
            seen = set()  # keys that matched, for DELETED-on-unmatch
            for _, o in initial or []:
                seen.add((o["metadata"].get("namespace"), o["metadata"]["name"]))
            last_bookmark = time.time()
            while time.time() < deadline and not app.stopping.is_set():
                with store.lock:
                    evs = [e for e in store.events if e[0] > last]
                    if not evs:
                        store.changed.wait(min(0.5, max(0.01, deadline - time.time())))
                        evs = [e for e in store.events if e[0] > last]
                for erv, res, etype, o in evs:
                    last = erv
                    key = (o["metadata"].get("namespace"), o["metadata"]["name"])
                    if res != resource:
                        continue
                    if matches(res, o):
                        if etype == "DELETED":
                            seen.discard(key)
                        else:
                            etype = "MODIFIED" if key in seen and etype == "ADDED" else etype
                            if key not in seen and etype == "MODIFIED":
                                etype = "ADDED"
                            seen.add(key)
                        chunk({"type": etype, "object": o})
                    elif key in seen:
                        seen.discard(key)
                        chunk({"type": "DELETED", "object": o})
                if bookmarks and time.time() - last_bookmark >= app.bookmark_interval:
                    last_bookmark = time.time()
                    kind = RESOURCES[resource][0]
                    chunk({"type": "BOOKMARK", "object": {
                        "kind": kind, "apiVersion": api_version(resource),
                        "metadata": {"resourceVersion": str(max(last, start))}}})
            self.end_chunks()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def create(self, resource, ns):
        app = self.server.app
        obj = self.json_body()
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "body must be an object")
        kind = RESOURCES[resource][0]
        if obj.get("kind") not in (None, kind):
            raise ApiError(400, "BadRequest", "the body kind %s does not match %s"
                           % (obj.get("kind"), kind))
        md = obj.setdefault("metadata", {})
        if RESOURCES[resource][3]:
            if md.get("namespace") not in (None, ns):
                raise ApiError(400, "BadRequest", "the namespace of the provided object does "
                               "not match the namespace sent on the request")
            md["namespace"] = ns
        validate(resource, obj)
        defaults(resource, obj)
        if self.dry_run():
            obj["metadata"].setdefault("uid", str(uuid.uuid4()))
            return self.send_json(201, obj)
        if resource == "namespaces":
            app.extra_namespaces.add(md.get("name"))
        o = app.store.create(resource, obj)
        app.controller.kick.set()
        self.send_json(201, o)

    def dry_run(self):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        return "All" in q.get("dryRun", [])

    def replace(self, resource, ns, name, sub):
        app = self.server.app
        obj = self.json_body()
        if not isinstance(obj, dict) or obj.get("metadata", {}).get("name") != name:
            raise ApiError(400, "BadRequest", "the name of the object (%s) does not match the "
                           "name on the URL (%s)" % (obj.get("metadata", {}).get("name"), name))
        obj["metadata"]["namespace"] = self.ns_of(resource, ns)
        rv = obj["metadata"].get("resourceVersion")
        if sub == "scale":
            cur = app.store.get(resource, self.ns_of(resource, ns), name)
            if not cur:
                raise not_found(resource, name)
            if rv and rv != cur["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", "the object has been modified")
            cur["spec"]["replicas"] = obj.get("spec", {}).get("replicas", 0)
            o = app.store.update(resource, cur)
            app.controller.kick.set()
            return self.send_json(200, scale_of(o))
        if resource != "namespaces":
            validate(resource, obj)
            defaults(resource, obj)
        if self.dry_run() and sub is None:
            # dryRun=All: validated and defaulted, answered, not stored (no new
            # resourceVersion or generation).
            cur = app.store.get(resource, self.ns_of(resource, ns), name)
            if cur is None:
                raise not_found(resource, name)
            if rv and rv != cur["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", "the object has been modified")
            for f in ("uid", "creationTimestamp", "resourceVersion", "generation"):
                if f in cur["metadata"]:
                    obj["metadata"][f] = cur["metadata"][f]
            if "status" in cur:
                obj["status"] = cur["status"]
            return self.send_json(200, obj)
        o = app.store.update(resource, obj, check_rv=rv, status_only=(sub == "status"))
        app.controller.kick.set()
        self.send_json(200, o)

    def patch(self, resource, ns, name, sub, q):
        app = self.server.app
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
        patch = self.json_body()
        nsk = self.ns_of(resource, ns)
        for _ in range(10):  # patches apply to the latest version: retry races
            cur = app.store.get(resource, nsk, name)
            if cur is None:
                raise not_found(resource, name)
            base = scale_of(cur) if sub == "scale" else cur
            if ctype == "application/strategic-merge-patch+json":
                new = strategic_merge_patch(base, patch)
            elif ctype == "application/merge-patch+json":
                new = json_merge_patch(base, patch)
            elif ctype == "application/json-patch+json":
                new = json_patch(base, patch)
            elif ctype == "application/apply-patch+yaml":
                raise ApiError(415, "UnsupportedMediaType", "server-side apply is not "
                               "supported by the fake")
            else:
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in "
                               "an unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json, "
                               "application/strategic-merge-patch+json")
            if not isinstance(new, dict):
                raise ApiError(422, "Invalid", "patch result is not an object")
            if sub == "scale":
                cur["spec"]["replicas"] = (new.get("spec") or {}).get("replicas", 0)
                new = cur
            # A resourceVersion in the patch is a precondition.
            want_rv = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(
                patch, dict) else None
            if want_rv and want_rv != cur["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the '
                               "object has been modified; please apply your changes to the "
                               "latest version and try again" % (resource, name))
            new.setdefault("metadata", {})["resourceVersion"] = cur["metadata"]["resourceVersion"]
            new["metadata"]["name"] = name
            # As the real server (rest.ValidNamespace): an emptied namespace is the
            # request's, another one is refused.
            if nsk and new["metadata"].get("namespace", "") in ("", nsk):
                new["metadata"]["namespace"] = nsk
            elif nsk:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does "
                               "not match the namespace sent on the request")
            if resource not in ("namespaces",) and sub != "status":
                validate(resource, new)
                defaults(resource, new)
            if self.dry_run():
                return self.send_json(200, new)
            try:
                o = app.store.update(resource, new, check_rv=cur["metadata"]["resourceVersion"],
                                     status_only=(sub == "status"))
            except ApiError as e:
                if e.code == 409 and not want_rv:
                    continue
                raise
            app.controller.kick.set()
            return self.send_json(200, scale_of(o) if sub == "scale" else o)
        raise ApiError(409, "Conflict", "too many concurrent updates")

    def delete(self, resource, ns, name, q=None):
        app = self.server.app
        # DeleteOptions come in the body (kubectl) or as query parameters; the body must
        # be read either way or it would be taken for the connection's next request.
        opts = self.json_body()
        opts = opts if isinstance(opts, dict) else {}
        policy = (q or {}).get("propagationPolicy", [opts.get("propagationPolicy")])[0]
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise ApiError(422, "Invalid", "propagationPolicy: Unsupported value: %r: "
                           'supported values: "Foreground", "Background", "Orphan"' % policy)
        if policy == "Orphan" and resource in ("deployments", "replicasets"):
            # Dependents stay, without their owner (the garbage collector skips them).
            cur = app.store.get(resource, ns, name)
            child = "replicasets" if resource == "deployments" else "pods"
            for o in app.store.list(child, ns) if cur else []:
                refs = o["metadata"].get("ownerReferences", [])
                if any(r.get("uid") == cur["metadata"]["uid"] for r in refs):
                    o["metadata"]["ownerReferences"] = [
                        r for r in refs if r.get("uid") != cur["metadata"]["uid"]]
                    app.store.update(child, o, bump_generation=False)
        # Background and Foreground: the controller's garbage collection removes the
        # ReplicaSets, then their pods (and the pods' containers).
        if resource == "pods":
            o = app.store.get("pods", ns, name)
            if not o:
                raise not_found(resource, name)
            app.controller.delete_pod(ns, name)
        else:
            o = app.store.delete(resource, self.ns_of(resource, ns), name)
        app.controller.kick.set()
        self.send_json(200, o)

    # -- metrics.k8s.io/v1beta1, as metrics-server serves it, from `docker stats`
    def metrics(self, user, path, q):
        app = self.server.app
        if path == "/apis/metrics.k8s.io":
            gv = {"groupVersion": METRICS_GV, "version": "v1beta1"}
            return self.send_json(200, {"kind": "APIGroup", "apiVersion": "v1",
                                        "name": "metrics.k8s.io", "versions": [gv],
                                        "preferredVersion": gv})
        if path == "/apis/" + METRICS_GV:
            return self.send_json(200, {
                "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": METRICS_GV,
                "resources": [{"name": "pods", "singularName": "", "namespaced": True,
                               "kind": "PodMetrics", "verbs": ["get", "list"]}]})
        m = re.match(r"^/apis/metrics\.k8s\.io/v1beta1(?:/namespaces/([^/]+))?/pods"
                     r"(?:/([^/]+))?$", path)
        if not m or self.command != "GET":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        ns, name = m.groups()
        self.authorize(user, "get" if name else "list", "pods.metrics.k8s.io", ns)
        app.stats["requests"] += 1
        pods = [p for p in self.filtered("pods", ns, q)
                if name is None or p["metadata"]["name"] == name]
        usage = app.docker.stats([app.docker.name(p["metadata"]["namespace"],
                                                  p["metadata"]["name"]) for p in pods])
        items = []
        for p in pods:
            md = p["metadata"]
            u = usage.get(app.docker.name(md["namespace"], md["name"]))
            if u is None:  # not running (yet): metrics-server has nothing for it either
                continue
            items.append({"kind": "PodMetrics", "apiVersion": METRICS_GV,
                          "metadata": {"name": md["name"], "namespace": md["namespace"],
                                       "creationTimestamp": now_iso(),
                                       "labels": md.get("labels", {})},
                          "timestamp": u[2], "window": "1s",
                          "containers": [{"name": p["spec"]["containers"][0]["name"],
                                          "usage": {"cpu": "%dn" % u[0],
                                                    "memory": "%dKi" % (u[1] // 1024)}}]})
        if name is not None:
            if not items:
                raise ApiError(404, "NotFound", 'podmetrics.metrics.k8s.io "%s" not found'
                               % name, {"name": name, "group": "metrics.k8s.io",
                                        "kind": "pods"})
            return self.send_json(200, items[0])
        self.send_json(200, {"kind": "PodMetricsList", "apiVersion": METRICS_GV,
                             "metadata": {}, "items": items})

    # -- exec over WebSocket
    def exec_pod(self, ns, name, q):
        app = self.server.app
        pod = app.store.get("pods", ns, name)
        if pod is None:
            raise not_found("pods", name)
        if self.headers.get("Upgrade", "").lower() != "websocket":
            raise ApiError(400, "BadRequest", "Upgrade request required (the fake speaks "
                           "WebSocket exec only, not SPDY)")
        offered = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",")
                   if p.strip()]
        chosen = next((p for p in offered if p in app.exec_protocols), None)
        if chosen is None:
            raise ApiError(400, "BadRequest", "unable to upgrade: no supported subprotocol in "
                           "%s (server supports %s)" % (offered, app.exec_protocols))
        cmd = q.get("command", [])
        if not cmd:
            raise ApiError(400, "BadRequest", "you must specify at least 1 command")
        cstate = ((pod.get("status") or {}).get("containerStatuses") or [{}])[0]
        if "running" not in cstate.get("state", {}):
            raise ApiError(400, "BadRequest", "pod %s does not have a running container" % name)
        container = q.get("container", [pod["spec"]["containers"][0]["name"]])[0]
        if container not in [c["name"] for c in pod["spec"]["containers"]]:
            raise ApiError(400, "BadRequest", "container %s is not valid for pod %s"
                           % (container, name))
        flag = lambda k: q.get(k, [""])[0] in ("1", "true")
        want_stdin, want_out, want_err = flag("stdin"), flag("stdout"), flag("stderr")
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", chosen)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        self.connection.settimeout(None)  # an exec may be quiet for long
        app.stats["execs"] += 1
        app.stats["exec_protocols"][chosen] = app.stats["exec_protocols"].get(chosen, 0) + 1
        app.exec_opened(self.client_address[1])
        try:
            ws = WsConn(self.rfile, self.wfile, app.ws_chaos, app.stats)
            proc = subprocess.Popen(["docker", "exec"] + (["-i"] if want_stdin else []) +
                                    [app.docker.name(ns, name)] + cmd,
                                    stdin=subprocess.PIPE if want_stdin else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            # The real server opens each channel with a message holding only its number.
            for ch, on in ((0, want_stdin), (1, want_out), (2, want_err), (3, True)):
                if on:
                    ws.send(bytes([ch]))

            def pump(stream, ch, enabled):
                while True:
                    data = stream.read1(32768) if hasattr(stream, "read1") else stream.read(32768)
                    if not data:
                        break
                    if enabled:
                        try:
                            ws.send(bytes([ch]) + data)
                        except OSError:
                            pass

            def reader():
                try:
                    while True:
                        op, data = ws.recv()
                        if op == 8:
                            ws.close()
                            break
                        if not data:
                            continue
                        if data[0] == 0 and proc.stdin:
                            try:
                                proc.stdin.write(data[1:])
                                proc.stdin.flush()
                            except (BrokenPipeError, ValueError):
                                pass
                        elif data[0] == 255 and chosen == "v5.channel.k8s.io" and data[1:2] == b"\0":
                            app.stats["stdin_closes"] += 1
                            if proc.stdin:
                                proc.stdin.close()
                except (EOFError, ValueError, OSError):
                    pass
                finally:
                    if proc.poll() is None and ws.closed:
                        proc.kill()

            threads = [threading.Thread(target=pump, args=(proc.stdout, 1, want_out), daemon=True),
                       threading.Thread(target=pump, args=(proc.stderr, 2, want_err), daemon=True)]
            for t in threads:
                t.start()
            rt = threading.Thread(target=reader, daemon=True)
            rt.start()
            for t in threads:
                t.join()
            code = proc.wait()
            if code == 0:
                status = {"metadata": {}, "status": "Success"}
            else:
                status = {"metadata": {}, "status": "Failure",
                          "message": "command terminated with non-zero exit code: error executing "
                                     "command [%s], exit code %d" % (" ".join(cmd), code),
                          "reason": "NonZeroExitCode",
                          "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
            try:
                ws.send(bytes([3]) + json.dumps(status).encode())
                ws.close()
                rt.join(2)
            except OSError:
                pass
        finally:
            # Also when the client went away mid-exec: a stale port would be counted
            # as an exec connection when a later connection happens to reuse it.
            app.exec_done(self.client_address[1])


def scale_of(o):
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: o["metadata"][k] for k in ("name", "namespace", "uid",
                                                       "resourceVersion", "creationTimestamp")
                         if k in o["metadata"]},
            "spec": {"replicas": o["spec"].get("replicas", 1)},
            "status": {"replicas": (o.get("status") or {}).get("replicas", 0),
                       "selector": ",".join("%s=%s" % kv for kv in sorted(
                           o["spec"].get("selector", {}).get("matchLabels", {}).items()))}}


def validate(resource, obj):
    if resource not in ("deployments", "replicasets"):
        return
    spec = obj.get("spec") or {}
    name = obj["metadata"].get("name", "")
    errs = []
    tmpl = spec.get("template") or {}
    sel = spec.get("selector")
    if not sel:
        errs.append("spec.selector: Required value")
    elif not labels_match(selector_to_reqs(sel), (tmpl.get("metadata") or {}).get("labels")):
        errs.append("spec.template.metadata.labels: Invalid value: `selector` does not match "
                    "template `labels`")
    cs = (tmpl.get("spec") or {}).get("containers") or []
    if not cs:
        errs.append("spec.template.spec.containers: Required value")
    for i, c in enumerate(cs):
        if not c.get("name"):
            errs.append("spec.template.spec.containers[%d].name: Required value" % i)
        if not c.get("image"):
            errs.append("spec.template.spec.containers[%d].image: Required value" % i)
    if errs:
        kind = RESOURCES[resource][0]
        raise ApiError(422, "Invalid", '%s.apps "%s" is invalid: %s' % (kind, name, "; ".join(errs)),
                       {"name": name, "group": "apps", "kind": kind,
                        "causes": [{"reason": "FieldValueInvalid", "message": e} for e in errs]})


def defaults(resource, obj):
    for k in ("metadata", "spec"):
        if isinstance(obj.get(k), dict):
            obj[k] = prune(obj[k])
    if resource != "deployments":
        return
    spec = obj["spec"]
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    st = spec.setdefault("strategy", {"type": "RollingUpdate"})
    st.setdefault("type", "RollingUpdate")
    if st["type"] == "RollingUpdate":
        st.setdefault("rollingUpdate", {}).setdefault("maxSurge", "25%")
        st["rollingUpdate"].setdefault("maxUnavailable", "25%")
    ps = spec["template"].setdefault("spec", {})
    ps.setdefault("restartPolicy", "Always")
    ps.setdefault("terminationGracePeriodSeconds", 30)
    ps.setdefault("dnsPolicy", "ClusterFirst")
    ps.setdefault("schedulerName", "default-scheduler")
    ps.setdefault("securityContext", {})
    for c in ps.get("containers", []):
        c.setdefault("imagePullPolicy", "IfNotPresent")
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")
        c.setdefault("resources", {})


# ---------------------------------------------------------------- app

class App:
    def __init__(self, args):
        self.args = args
        self.store = Store()
        self.stopping = threading.Event()
        self.server_id = args.id or "kctl-fake-" + rand_suffix(8)
        self.logf = open(os.path.join(args.dir, "server.log"), "a", buffering=1)
        self.docker = Docker(self.server_id, self.log)
        self.controller = Controller(self.store, self.docker, self.log)
        self.tokens = {}
        for line in open(args.tokens):
            f = line.strip().split(",")
            if len(f) >= 2 and not line.startswith("#"):
                self.tokens[f[0]] = f[1]
        self.forbidden_users = set(args.forbidden_user or [])
        self.readonly_users = set(args.readonly_user or [])
        self.exec_protocols = [p.strip() for p in args.exec_protocols.split(",")]
        self.ws_chaos = args.ws_chaos
        self.advertise_unserved = args.advertise_unserved
        self.serve_metrics = not args.no_metrics
        self.bookmark_interval = args.bookmark_interval
        self.extra_namespaces = {"default", "kube-system", "kube-public"}
        self.stats = {"requests": 0, "execs": 0, "exec_protocols": {}, "pings_sent": 0,
                      "pongs_received": 0, "stdin_closes": 0, "watches": 0, "unauthorized": 0,
                      "exec_peak": 0}
        self.exec_lock = threading.Lock()
        self.exec_peers = set()  # client ports of exec connections
        minor = args.version.split(".")[1]
        self.version = {"major": "1", "minor": minor, "gitVersion": "v" + args.version,
                        "gitCommit": "0000000000000000000000000000000000000000",
                        "gitTreeState": "clean", "buildDate": "2024-01-01T00:00:00Z",
                        "goVersion": "go1.21.0", "compiler": "gc", "platform": "linux/amd64"}
        self.port = 0

    def log(self, msg):
        self.logf.write("%s %s\n" % (now_iso(), msg))

    def exec_opened(self, peer_port):
        """stats exec_peak: at each exec upgrade, how many exec connections the kernel
        still has ESTABLISHED (a client's close moves its socket out of that state at
        once, whenever this server's threads get to read it)."""
        with self.exec_lock:
            self.exec_peers.add(peer_port)
            n = 0
            with open("/proc/net/tcp") as f:
                for line in f.readlines()[1:]:
                    fl = line.split()
                    lport, rport = int(fl[1].split(":")[1], 16), int(fl[2].split(":")[1], 16)
                    n += fl[3] == "01" and lport == self.port and rport in self.exec_peers
            self.stats["exec_peak"] = max(self.stats["exec_peak"], n)

    def exec_done(self, peer_port):
        with self.exec_lock:
            self.exec_peers.discard(peer_port)

    def namespaces(self):
        names = set(self.extra_namespaces)
        for r in ("pods", "deployments", "replicasets"):
            names |= {o["metadata"]["namespace"] for o in self.store.list(r)}
        return sorted(names)

    def namespace_obj(self, n):
        return {"kind": "Namespace", "apiVersion": "v1",
                "metadata": {"name": n, "uid": hashlib.md5(n.encode()).hexdigest(),
                             "resourceVersion": "1", "creationTimestamp": "2024-01-01T00:00:00Z",
                             "labels": {"kubernetes.io/metadata.name": n}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


class TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, handler, ctx, app):
        super().__init__(addr, handler)
        self.ctx, self.app = ctx, app

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.settimeout(30)
        # The TLS handshake happens in the connection's own thread (finish_request).
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def finish_request(self, request, client_address):
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError) as e:
            self.app.log("TLS handshake with %s failed: %s" % (client_address, e))
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        self.app.log("connection error from %s: %s" % (client_address, sys.exc_info()[1]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="state dir: certs, port, server.log")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tokens", required=True, help="token,user lines")
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--client-ca", required=True)
    ap.add_argument("--exec-protocols", default="v5.channel.k8s.io,v4.channel.k8s.io")
    ap.add_argument("--ws-chaos", action="store_true",
                    help="fragment exec messages, interleave pings, split writes")
    ap.add_argument("--forbidden-user", action="append")
    ap.add_argument("--readonly-user", action="append")
    ap.add_argument("--bookmark-interval", type=float, default=1.0)
    ap.add_argument("--version", default="1.30.0")
    ap.add_argument("--id")
    ap.add_argument("--no-metrics", action="store_true",
                    help="do not serve metrics.k8s.io (a cluster without metrics-server)")
    ap.add_argument("--advertise-unserved", action="store_true",
                    help="list Services, ServiceAccounts, ConfigMaps, Jobs, CronJobs, Roles "
                    "and RoleBindings in discovery (not served) for kubectl dry runs")
    args = ap.parse_args()
    app = App(args)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.load_verify_locations(args.client_ca)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    srv = TLSServer(("127.0.0.1", args.port), Handler, ctx, app)
    srv.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    app.port = srv.server_address[1]
    app.controller.start()

    def stop(*_):
        app.stopping.set()
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open(os.path.join(args.dir, "id"), "w") as f:
        f.write(app.server_id + "\n")
    tmp = os.path.join(args.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % app.port)
    os.rename(tmp, os.path.join(args.dir, "port"))
    app.log("listening on 127.0.0.1:%d as %s" % (app.port, app.server_id))
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        app.controller.stop.set()
        app.docker.remove_all()
        app.log("stopped")


if __name__ == "__main__":
    main()
