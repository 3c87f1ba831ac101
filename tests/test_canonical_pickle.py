"""The same value gets the same content hash whatever the history of the process that saved
it: built from literals, read back from the datastore, under another string-hash seed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from ds_util import make_store

from lamina.datastore.serializers.canonical import canonical_value

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


def test_the_canonical_value_is_equal_and_shares_equal_atoms() -> None:
    a, b = "".join(["fi", "t"]), "".join(["f", "it"])
    assert a == b and a is not b
    back = canonical_value({"x": a, "y": [b, (a, 1)], "z": (1.0, -0.0)}, protocol=5)
    assert back == {"x": "fit", "y": ["fit", ("fit", 1)], "z": (1.0, -0.0)}
    assert back["x"] is back["y"][0] is back["y"][1][0]
    assert str(back["z"][1]) == "-0.0"  # 0.0 and -0.0 are not merged
    assert canonical_value(5, protocol=5) == 5


def test_a_value_that_cannot_be_read_back_is_still_saved(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    value = _Unloadable(3)
    ref, _ = store.save(value, name="r/s/0")
    assert ref.serializer == "cloudpickle" and ref.info["canonical"] is False
    ref, _ = store.save({"a": "fit"}, name="r/t/0")
    assert ref.info["canonical"] is True


def _fail(n: int) -> None:
    raise RuntimeError(f"cannot rebuild {n}")


class _Unloadable:
    def __init__(self, n: int) -> None:
        self.n = n

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_fail, (self.n,))


@pytest.mark.parametrize("value", [{"a": {1, 2}}, [b"x", b"x"], {"k": ("a", ("b",))}])
def test_canonical_values_round_trip(value: object) -> None:
    assert canonical_value(value, protocol=5) == value
