"""A flow that trains a real scikit-learn model and logs metrics, and the registry hooks
called as the model registry calls them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from lamina import Flow, Stack
from lamina.sdk import AliasChange, ModelVersion


def churn_flow() -> Flow:
    """``churn``: data -> model (a LogisticRegression, servable) with metrics per step and a
    foreach step logging one value per element."""
    flow = Flow("churn")

    @flow.step
    def data(rows: int = 300) -> dict:
        import numpy as np

        rng = np.random.default_rng(0)
        x = rng.normal(size=(rows, 3))
        y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
        return {"X": x, "y": y}

    @flow.step
    def folds() -> list[int]:
        return [0, 1, 2]

    @flow.step(foreach="folds")
    def cv(data: dict, folds: int) -> float:
        from lamina import current

        score = 0.8 + 0.05 * folds
        current.log_metric("score", score)
        return score

    @flow.step
    def model(data: dict, cv: list, C: float = 1.0) -> Any:
        from sklearn.linear_model import LogisticRegression

        from lamina import current
        from lamina.serving import Model, Schema

        clf = LogisticRegression(C=C).fit(data["X"], data["y"])
        current.log_metric("accuracy", float(clf.score(data["X"], data["y"])))
        current.log_metric("rows", float(len(data["y"])))
        return Model(clf, schema=Schema.infer(data["X"], clf.predict(data["X"][:5])))

    return flow


def write_config(project: Path, plugin_table: str, extra: str = "") -> Stack:
    (project / "lamina.toml").write_text(
        f'[stacks.local]\ndatastore = "file://.lamina"\n\n{plugin_table}\n{extra}')
    return Stack.load("local")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def register(stack: Stack, run_id: str, *, name: str = "churn", version: int = 1,
             step: str = "model") -> ModelVersion:
    """What the model registry does after a register: the hook, through the real plugin
    manager."""
    mv = ModelVersion(name=name, version=version, ref=f"churn/{run_id}/{step}", run_id=run_id,
                      namespace="user:test", registered_by="ana", registered_at=now(),
                      metadata={"description": "nightly retrain", "auc": 0.91})
    stack.hook.lamina_model_registered(version=mv, stack=stack)
    return mv


def promote(stack: Stack, mv: ModelVersion, alias: str, *, previous: int | None = None,
            remove: bool = False) -> AliasChange:
    change = AliasChange(name=mv.name, alias=alias, version=None if remove else mv.version,
                         previous=previous, user="ana", at=now(), reason="beats v0 on every slice")
    stack.hook.lamina_model_promoted(version=mv, change=change, stack=stack)
    return change


def wandb_records(path: Path) -> list[Any]:
    """The records of a W&B run file (``run-ID.wandb``), parsed with W&B's own protobuf
    classes. The file is W&B's transaction log: a 7-byte header (``:W&B``, magic, version)
    then LevelDB-log framing (32 KiB blocks; each chunk a CRC-32, a length and a type:
    full, first, middle, last), every checksum checked here."""
    import struct
    import zlib

    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    block, pos, pending, out = 32768, 7, b"", []
    while pos + 7 <= len(data):
        left = block - pos % block
        crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if left < 7 or (length == 0 and kind == 0):
            pos += left                                   # block padding
            continue
        chunk = data[pos + 7:pos + 7 + length]
        assert zlib.crc32(chunk, zlib.crc32(bytes([kind]))) == crc, f"bad checksum at {pos}"
        pos += 7 + length
        pending += chunk
        if kind in (1, 4):                                # full, last
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def wandb_run_files(root: Path) -> dict[str, list[Any]]:
    """Every offline run under ``root/wandb``: its W&B run id -> its records."""
    return {f.stem.removeprefix("run-"): wandb_records(f)
            for f in sorted((root / "wandb").glob("offline-run-*/run-*.wandb"))}
