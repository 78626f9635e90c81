"""Table-driven checks of the emulator's patch algorithms and label selectors, without a server."""

from __future__ import annotations

import pytest

from ember.localkube import patching, selectors


@pytest.mark.parametrize(("target", "patch", "expected"), [
    ({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}}, {"a": 1, "b": {"d": 3}}),
    ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
    ({"a": 1}, {"a": None}, {}),
])
def test_merge_patch(target, patch, expected):
    assert patching.merge_patch(target, patch) == expected


@pytest.mark.parametrize(("target", "patch", "expected"), [
    ({"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
     {"env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}]},
     {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}, {"name": "C", "value": "4"}]}),
    ({"volumes": [{"name": "a"}, {"name": "b"}]}, {"volumes": [{"name": "a", "$patch": "delete"}]},
     {"volumes": [{"name": "b"}]}),
    ({"metadata": {"finalizers": ["x"]}}, {"metadata": {"finalizers": ["y", "x"]}},
     {"metadata": {"finalizers": ["x", "y"]}}),
    ({"spec": {"a": 1, "b": 2}}, {"spec": {"$patch": "replace", "c": 3}}, {"spec": {"c": 3}}),
    ({"args": ["a", "b"]}, {"args": ["c"]}, {"args": ["c"]}),
])
def test_strategic_merge_patch_merges_named_lists(target, patch, expected):
    assert patching.strategic_merge_patch(target, patch) == expected


def test_json_patch_operations_and_failures():
    doc = {"a": {"b": [1, 2]}}
    patched = patching.json_patch(doc, [
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "copy", "from": "/a/b", "path": "/c"},
        {"op": "move", "from": "/a/b", "path": "/d"},
        {"op": "test", "path": "/d/2", "value": 3},
    ])
    assert patched == {"a": {}, "c": [1, 2, 3], "d": [1, 2, 3]}
    assert doc == {"a": {"b": [1, 2]}}
    with pytest.raises(patching.PatchError):
        patching.json_patch(doc, [{"op": "remove", "path": "/missing"}])
    with pytest.raises(patching.PatchError):
        patching.json_patch(doc, [{"op": "test", "path": "/a/b/0", "value": 9}])


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    ("", {}, True),
    ("a=b", {"a": "b"}, True),
    ("a=b", {}, False),
    ("a!=b", {}, True),
    ("a in (x, y),c", {"a": "y", "c": ""}, True),
    ("a notin (x,y)", {"a": "x"}, False),
    ("!a", {"a": "x"}, False),
])
def test_label_selector_requirements(selector, labels, expected):
    assert selectors.parse_label_selector(selector)({"metadata": {"labels": labels}}) is expected
