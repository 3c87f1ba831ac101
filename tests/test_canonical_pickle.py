"""The same value gets the same content hash whatever the history of the process that saved
it: built from literals, read back from the datastore, under another string-hash seed."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lamina.datastore.serializers.canonical import canonical_dumps

#: Builds one value three ways ("fresh": from literals; "loaded": its parts read back from
#: pickles first, as a task does with its inputs; "shared": equal strings made one object),
#: saves it, prints the artifact's key.
SAVE = textwrap.dedent("""
    import json, pickle, sys, warnings
    import numpy as np, pandas as pd
    from sklearn.linear_model import LogisticRegression
    sys.path.insert(0, sys.argv[3])
    from ds_util import make_store

    warnings.simplefilter("ignore")
    history, root = sys.argv[1], sys.argv[2]
    X = np.arange(40, dtype=float).reshape(20, 2)
    y = np.array([0, 1] * 10)
    config = {"C": 0.5, "solver": "lbfgs", "name": "fit", "tags": ("a", "b")}
    labels = ["fit", "solver", ("a", 1)]
    if history == "loaded":
        config, X, labels = pickle.loads(pickle.dumps((config, X, labels)))
    elif history == "shared":
        config = {sys.intern(k): (sys.intern(v) if isinstance(v, str) else v)
                  for k, v in config.items()}
    model = LogisticRegression(C=config["C"], solver=config["solver"]).fit(X, y)
    values = {
        "best": {"model": model, "config": config},
        "arrays": (X, X[:2] * 2.0),
        "list": [1, 2.5, "fit", labels, None, True],
        "frame_in_dict": {"frame": pd.DataFrame({"a": [1, 2], "b": ["fit", "x"]}), "n": 2},
        "scalar": 0.25,
    }
    store = make_store(root)
    keys = {name: store.save(v, name=f"r/{name}/0")[0].key for name, v in values.items()}
    print(json.dumps(keys))
""")


def _keys(tmp_path: Path, history: str, seed: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONHASHSEED=seed)
    done = subprocess.run(
        [sys.executable, "-c", SAVE, history, str(tmp_path / f"{history}-{seed}"),
         str(Path(__file__).parent)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_same_value_same_hash_in_fresh_processes_with_different_histories(tmp_path: Path) -> None:
    fresh = _keys(tmp_path, "fresh", "1")
    assert _keys(tmp_path, "loaded", "2") == fresh
    assert _keys(tmp_path, "shared", "3") == fresh
    assert len(set(fresh.values())) == len(fresh)  # distinct values, distinct hashes


def test_equal_atoms_are_written_once_whichever_objects_hold_them() -> None:
    a, b = "".join(["fi", "t"]), "".join(["f", "it"])
    assert a == b and a is not b
    value = {"x": a, "y": [b, (a, 1)], "z": (1.0, -0.0), "w": [(1, "u"), (1, "u")]}
    data = canonical_dumps(value, protocol=5)
    assert data.count(b"fit") == 1
    assert data == canonical_dumps(pickle.loads(data), protocol=5)  # a fixed point
    back = pickle.loads(data)
    assert back == value and str(back["z"][1]) == "-0.0"  # 0.0 and -0.0 are not merged
    assert back["x"] is back["y"][0]


def test_mutable_sharing_is_kept_and_big_buffers_round_trip() -> None:
    import numpy as np

    shared = [1, 2]
    back = pickle.loads(canonical_dumps({"a": shared, "b": shared, "c": [1, 2]}, protocol=5))
    assert back["a"] is back["b"] and back["a"] is not back["c"]
    big = np.arange(100_000, dtype=np.float64)
    frozen = big.copy()
    frozen.flags.writeable = False
    back = pickle.loads(canonical_dumps({"w": big, "r": frozen}, protocol=5))
    assert (back["w"] == big).all() and (back["r"] == big).all()
    assert back["w"].flags.writeable and not back["r"].flags.writeable
    assert pickle.loads(canonical_dumps(lambda x: x + 1, protocol=5))(1) == 2  # cloudpickle's
    # small and empty buffers too (two empty arrays: one empty bytes object in Python)
    small = {"e1": np.zeros(0), "e2": np.zeros(0), "s": np.arange(3), "ro": frozen[:3]}
    back = pickle.loads(canonical_dumps(small, protocol=5))
    assert back["e1"].shape == back["e2"].shape == (0,) and back["s"].tolist() == [0, 1, 2]
    assert back["ro"].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("value", [
    {"a": {1, 2}}, [b"x", b"x"], {"k": ("a", ("b",))}, 5, "s",
    # long lists of numbers are written in bulk: every kind of number, and 1000-item batches
    [1, 2.5, True, False, None, 2**70, -(2**40), 300, 70000, -1, -0.0] * 200,
])
def test_canonical_values_round_trip(value: object) -> None:
    data = canonical_dumps(value, protocol=5)
    back = pickle.loads(data)
    assert repr(back) == repr(value)
    assert canonical_dumps(back, protocol=5) == data


@pytest.mark.parametrize("protocol", [4, 5])
def test_lone_atoms_take_the_c_pickler_with_the_same_bytes(protocol: int) -> None:
    """A lone int, float, str... is written by the C pickler (fast path): its bytes must be
    exactly the canonical pickler's, so results stored before keep their keys."""
    import io
    import pickle
    import random

    from lamina.datastore.serializers.canonical import _pickler_class, canonical_dumps

    rng = random.Random(7)
    atoms: list[object] = [0, 1, -1, 255, 256, 65535, 65536, 2**31 - 1, 2**31, -2**31 - 1,
                           2**64, -2**200, 0.0, -0.0, 1.5, float("inf"), True, False, None,
                           "", "a", "é" * 10, "x" * 16383, "x" * 16384, b"", b"\x00" * 100]
    atoms += [rng.randint(-2**70, 2**70) for _ in range(200)] + [rng.random() for _ in range(50)]
    atoms += ["".join(chr(rng.randint(32, 0x2FFFF)) for _ in range(rng.randint(0, 200)))
              for _ in range(50)]
    for atom in atoms:
        slow = io.BytesIO()
        _pickler_class()(slow, protocol).dump(atom)
        assert canonical_dumps(atom, protocol=protocol) == slow.getvalue(), repr(atom)[:40]
        assert pickle.loads(slow.getvalue()) == atom or atom != atom
