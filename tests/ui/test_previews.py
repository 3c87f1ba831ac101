"""Artifact previews never unpickle an object unless asked."""

from __future__ import annotations

import pickle

import pytest

from lamina.ui.previews import NeedsUnpickling, load_plain_pickle, value_preview


class Model:
    def __reduce__(self):  # what a malicious pickle does: call something on load
        import os

        return (os.system, ("echo owned",))


def test_plain_data_is_read() -> None:
    value = {"a": [1, 2.5, "x", None, True], "b": {1, 2}, "c": b"\x00"}
    assert load_plain_pickle(pickle.dumps(value)) == value


def test_objects_are_refused_before_import() -> None:
    with pytest.raises(NeedsUnpickling, match=r"(posix|os)\.system"):
        load_plain_pickle(pickle.dumps(Model()))


def test_array_preview_summarises() -> None:
    np = pytest.importorskip("numpy")
    preview = value_preview(np.arange(10, dtype="float64"), [])
    facts = dict(preview.summary)
    assert facts["shape"] == "(10,)" and facts["dtype"] == "float64"
    assert facts["min"] == "0" and facts["max"] == "9" and facts["mean"] == "4.5"
