"""Safe loading (defect 6 of the hardening trials): a pickle of a run outside the trusted
namespaces is not unpickled without consent; Arrow/numpy/skops values load from any run;
scikit-learn estimators are stored with skops; the model server checks the recorded type
before it loads anything."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lamina import Client, Flow
from lamina.errors import UntrustedArtifactError
from lamina.serving.model import ModelNotServableError, resolve_model
from lamina.stack import Stack

MARKER = "lamina-pickle-ran-code"


class _Payload:
    """A value whose unpickling runs code: it creates a marker file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (Path(self.path),))


flow = Flow("trusting")


@flow.step
def payload(where: str = ".") -> object:
    return _Payload(os.path.join(where, MARKER))


@flow.step
def array() -> np.ndarray:
    return np.arange(6.0)


@flow.step
def estimator(array):
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit(array.reshape(-1, 1), array * 2)


def _stack(root: Path, user: str, stack_extra: str = "") -> Stack:
    (root / "lamina.toml").write_text(f'[stacks.a]\ndatastore = "./store"\n{stack_extra}')
    os.environ["LAMINA_USER"] = user  # read when the stack is loaded (its branch)
    return Stack.load(cwd=root)


@pytest.fixture
def alices_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("LAMINA_USER", "alice")
    out = tmp_path / "out"
    out.mkdir()
    stack = _stack(tmp_path, "alice")
    run = flow.run(stack=stack, where=str(out))
    stack.close()
    assert not (out / MARKER).exists()  # storing it ran nothing
    return tmp_path, run.id, out / MARKER


def test_a_colleagues_pickle_is_refused_before_it_runs(alices_run) -> None:
    root, run_id, marker = alices_run
    with _stack(root, "bob") as stack:
        run = Client(stack, namespace=None).run(run_id)
        with pytest.raises(UntrustedArtifactError) as info:
            _ = run["payload"].value
        assert not marker.exists()
        message = str(info.value)
        assert "user:alice is not a trusted namespace" in message and "trust=True" in message
        assert list(run["array"].value) == [0, 1, 2, 3, 4, 5]  # numpy: no code runs
        assert run["estimator"].task.ref.serializer == "skops"
        assert run["estimator"].value.predict([[10.0]])[0] == pytest.approx(20.0)
        run["payload"].load(trust=True)  # consent
        assert marker.exists()


def test_the_own_namespace_and_trusted_namespaces_load(alices_run) -> None:
    root, run_id, marker = alices_run
    with _stack(root, "alice") as stack:
        _ = Client(stack, namespace=None).run(run_id)["payload"].value
    assert marker.exists()
    marker.unlink()
    with _stack(root, "bob", 'trusted_namespaces = ["user:ali*"]\n') as stack:
        _ = Client(stack, namespace=None).run(run_id)["payload"].value
    assert marker.exists()


def test_allow_pickle_never_refuses_even_the_own_namespace(alices_run) -> None:
    root, run_id, marker = alices_run
    with _stack(root, "alice", 'allow_pickle = "never"\n') as stack, \
            pytest.raises(UntrustedArtifactError, match='allow_pickle = "never"'):
        _ = Client(stack, namespace=None).run(run_id)["payload"].value
    assert not marker.exists()


def test_the_server_checks_the_recorded_type_before_loading(alices_run) -> None:
    root, run_id, marker = alices_run
    with _stack(root, "alice", 'allow_pickle = "always"\n') as stack, \
            pytest.raises(ModelNotServableError, match=r"recorded as a .*_Payload"):
        resolve_model(stack, f"trusting/{run_id}/payload")
    assert not marker.exists()


def test_a_skops_file_naming_an_untrusted_type_is_refused(tmp_path: Path) -> None:
    import skops.io as sio

    from lamina.datastore.serializers.skops_format import SkopsSerializer

    path = tmp_path / "evil.skops"
    path.write_bytes(sio.dumps({"f": _Payload(str(tmp_path / MARKER))}))
    with pytest.raises(UntrustedArtifactError, match="does not trust"):
        SkopsSerializer().load(str(path))
    assert not (tmp_path / MARKER).exists()
