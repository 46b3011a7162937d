#!/usr/bin/env python3
"""Unit tests of the fake apiserver's patch and selector logic (no Docker)."""
import os
import sys
import unittest

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fake_apiserver as f  # noqa: E402

DEP = {"metadata": {"name": "web", "annotations": {"a": "1"}},
       "spec": {"replicas": 3, "template": {"spec": {"containers": [
           {"name": "app", "image": "x:v1", "env": [{"name": "A", "value": "1"}]},
           {"name": "side", "image": "s:v1"}]}}}}


class Patches(unittest.TestCase):
    def test_smp_merges_containers_by_name(self):
        p = {"spec": {"template": {"spec": {
            "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
            "containers": [{"name": "app", "image": "x:v2"}]}}}}
        out = f.strategic_merge_patch(DEP, p)
        cs = out["spec"]["template"]["spec"]["containers"]
        self.assertEqual([c["name"] for c in cs], ["app", "side"])
        self.assertEqual(cs[0]["image"], "x:v2")
        self.assertEqual(cs[0]["env"], [{"name": "A", "value": "1"}])  # kept
        self.assertEqual(cs[1]["image"], "s:v1")
        self.assertEqual(DEP["spec"]["template"]["spec"]["containers"][0]["image"], "x:v1")

    def test_smp_directives(self):
        p = {"spec": {"template": {"spec": {"containers": [
            {"name": "side", "$patch": "delete"},
            {"name": "new", "image": "n:v1"},
            {"name": "app", "env": [{"name": "B", "value": "2"}]}]}}},
             "metadata": {"annotations": {"a": None, "b": "2"}}}
        out = f.strategic_merge_patch(DEP, p)
        cs = out["spec"]["template"]["spec"]["containers"]
        self.assertEqual([c["name"] for c in cs], ["app", "new"])
        self.assertEqual([e["name"] for e in cs[0]["env"]], ["A", "B"])
        self.assertEqual(out["metadata"]["annotations"], {"b": "2"})
        rep = f.strategic_merge_patch(DEP, {"metadata": {"annotations": {
            "$patch": "replace", "z": "9"}}})
        self.assertEqual(rep["metadata"]["annotations"], {"z": "9"})

    def test_json_merge_patch_replaces_lists(self):
        p = {"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "o"}]}}},
             "metadata": {"annotations": {"a": None}}}
        out = f.json_merge_patch(DEP, p)
        self.assertEqual(out["spec"]["template"]["spec"]["containers"],
                         [{"name": "only", "image": "o"}])
        self.assertEqual(out["metadata"]["annotations"], {})

    def test_json_patch(self):
        ops = [{"op": "replace", "path": "/spec/replicas", "value": 5},
               {"op": "add", "path": "/metadata/annotations/x~1y", "value": "z"},
               {"op": "remove", "path": "/spec/template/spec/containers/1"},
               {"op": "test", "path": "/spec/replicas", "value": 5}]
        out = f.json_patch(DEP, ops)
        self.assertEqual(out["spec"]["replicas"], 5)
        self.assertEqual(out["metadata"]["annotations"]["x/y"], "z")
        self.assertEqual(len(out["spec"]["template"]["spec"]["containers"]), 1)
        with self.assertRaises(f.ApiError) as e:
            f.json_patch(DEP, [{"op": "test", "path": "/spec/replicas", "value": 1}])
        self.assertEqual(e.exception.code, 422)

    def test_template_hash_ignores_nulls_and_empties(self):
        a = {"metadata": {"labels": {"app": "w"}}, "spec": {"containers": [{"name": "a"}]}}
        b = {"metadata": {"labels": {"app": "w"}, "creationTimestamp": None},
             "spec": {"containers": [{"name": "a", "resources": {}}]}}
        self.assertEqual(f.template_hash(a), f.template_hash(b))
        c = {"metadata": {"labels": {"app": "w"}}, "spec": {"containers": [{"name": "b"}]}}
        self.assertNotEqual(f.template_hash(a), f.template_hash(c))


class Selectors(unittest.TestCase):
    def test_labels(self):
        r = f.parse_label_selector("app=web,tier!=db,env in (a, b),!legacy,zone")
        self.assertTrue(f.labels_match(r, {"app": "web", "env": "a", "zone": "1"}))
        self.assertFalse(f.labels_match(r, {"app": "web", "env": "c", "zone": "1"}))
        self.assertFalse(f.labels_match(r, {"app": "web", "env": "a", "zone": "1",
                                            "legacy": "y"}))
        self.assertFalse(f.labels_match(r, {"app": "web", "env": "a"}))

    def test_fields(self):
        o = {"metadata": {"name": "web", "namespace": "d"}}
        self.assertTrue(f.field_match("metadata.name=web", o))
        self.assertFalse(f.field_match("metadata.name=other", o))
        self.assertTrue(f.field_match("metadata.name!=other,metadata.namespace==d", o))

    def test_int_or_percent(self):
        self.assertEqual(f.int_or_percent("25%", 3, True), 1)
        self.assertEqual(f.int_or_percent("25%", 3, False), 0)
        self.assertEqual(f.int_or_percent(2, 3, False), 2)


class ListingDocker:
    """A Docker stand-in whose listing is whatever the test says."""

    def __init__(self):
        self.listing = {}

    def name(self, ns, pod):
        return "kctl-fake-%s-%s" % (ns, pod)

    def states(self):
        return dict(self.listing)

    def pullable_id(self, image_id, spec_image):
        return "docker-pullable://" + spec_image


class PodStatus(unittest.TestCase):
    def setUp(self):
        self.store, self.docker = f.Store(), ListingDocker()
        self.ctl = f.Controller(self.store, self.docker, lambda *a: None)
        pod = {"metadata": {"name": "p", "namespace": "default"},
               "spec": {"containers": [{"name": "app", "image": "x:v1"}]},
               "status": {"phase": "Running", "containerStatuses": [{
                   "name": "app", "image": "x:v1", "imageID": "", "ready": False,
                   "containerID": "docker://c1",
                   "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}]}}
        self.store.create("pods", pod)

    def status(self):
        return self.store.get("pods", "default", "p")["status"]["containerStatuses"][0]

    def test_started_after_the_listing_is_no_crash(self):
        # The container's docker run finished after states() was taken: not listed.
        self.ctl.refresh_pods()
        self.assertIn("running", self.status()["state"])
        self.docker.listing = {"kctl-fake-default-p": (True, 0, "2026-01-01T00:00:00Z", "i")}
        self.ctl.refresh_pods()
        self.assertTrue(self.status()["ready"])

    def test_exited_container_crashes(self):
        self.docker.listing = {"kctl-fake-default-p": (False, 3, "2026-01-01T00:00:00Z", "i")}
        self.ctl.refresh_pods()
        self.assertEqual(self.status()["state"]["waiting"]["reason"], "CrashLoopBackOff")
        self.assertEqual(self.status()["lastState"]["terminated"]["exitCode"], 3)


if __name__ == "__main__":
    unittest.main()
