"""lamina-tracking-wandb in offline mode: the real W&B SDK writes its run files, which are
parsed back with W&B's own protobuf records. No network."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pytest
from trackers_util import churn_flow, promote, register, wandb_run_files, write_config

from lamina.errors import ConfigError, TrackerWarning

TABLE = '[plugins.tracking_wandb]\nproject = "churn-offline"\nartifacts = ["model"]\ndir = "tracking"\n'


def _of(records: list[Any], kind: str) -> list[Any]:
    return [getattr(r, kind) for r in records if r.WhichOneof("record_type") == kind]


def _config(records: list[Any]) -> dict[str, Any]:
    return {u.key: json.loads(u.value_json) for run in _of(records, "run")
            for u in run.config.update}


def _history(records: list[Any], key: str) -> list[tuple[int, float]]:
    points = []
    for h in _of(records, "history"):
        items = {"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in h.item}
        if key in items:
            points.append((items["_step"], items[key]))
    return points


def _summary(records: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in _of(records, "summary"):
        for u in s.update:
            out["/".join(u.nested_key) or u.key] = json.loads(u.value_json)
    return out


@pytest.mark.slow
def test_run_and_registry_written_as_offline_run_files(project: Path) -> None:
    stack = write_config(project, TABLE)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrackerWarning)
        run = churn_flow().run(stack=stack, tags=["team=growth", "nightly"], C=0.5)
    runs = wandb_run_files(project / "tracking")
    records = runs[run.id]                                  # W&B run id = lamina run id
    (info,) = _of(records, "run")
    assert info.project == "churn-offline" and info.display_name == run.id
    assert info.run_group == "churn" and info.job_type == "run"
    assert list(info.tags) == ["team=growth", "nightly"]
    config = _config(records)
    assert config["C"] == 0.5 and config["rows"] == 300
    assert config["lamina_flow"] == "churn"
    assert config["lamina_run_id"] == run.id
    assert config["lamina_code_hash"] == run.record.code_hash
    assert [(s, round(v, 6)) for s, v in _history(records, "cv/score")] == [
        (0, 0.8), (1, 0.85), (2, 0.9)]
    summary = _summary(records)
    assert summary["model/accuracy"] > 0.9 and summary["model/rows"] == 300
    assert summary["lamina_status"] == "succeeded"
    (result,) = _of(records, "artifact")
    task = stack.metadata.list_tasks(run.id, "model")[0]
    assert result.name == "churn-model" and result.type == "result"
    assert {e.path for e in result.manifest.contents} == {
        f"result.{task.output.serializer}", "result.ref.json"}
    assert len(_of(records, "exit")) == 1

    mv = register(stack, run.id, version=3)
    promote(stack, mv, "champion", previous=2)
    later = {k: v for k, v in wandb_run_files(project / "tracking").items() if k != run.id}
    by_job = {_of(r, "run")[0].job_type: r for r in later.values()}
    assert set(by_job) == {"register", "promote"}
    (registered,) = _of(by_job["register"], "artifact")
    assert registered.type == "model" and registered.name == "churn"
    assert "lamina-v3" in registered.aliases
    meta = json.loads(registered.metadata)
    assert meta["lamina_ref"] == f"churn/{run.id}/model" and meta["lamina_version"] == 3
    assert meta["lamina_registered_by"] == "ana" and meta["lamina_metadata_auc"] == 0.91
    (promoted,) = _of(by_job["promote"], "artifact")
    assert {"champion", "lamina-v3"} <= set(promoted.aliases)
    assert promoted.digest == registered.digest            # the same bytes, a new alias
    moved = _config(by_job["promote"])
    assert moved["lamina_alias"] == "champion" and moved["lamina_previous"] == 2
    assert moved["lamina_reason"] == "beats v0 on every slice" and moved["lamina_by"] == "ana"


def test_a_failing_tracker_warns_and_tags_the_run(project: Path) -> None:
    (project / "blocked").write_text("a file where the run folder should go")
    stack = write_config(project, '[plugins.tracking_wandb]\nproject = "p"\ndir = "blocked"\n'
                                  "retries = 0\n")
    with pytest.warns(TrackerWarning, match=r"tracking_wandb: could not mirror run churn/"):
        run = churn_flow().run(stack=stack, rows=60)
    assert run.successful
    assert "tracker-failed:wandb" in stack.metadata.get_run(run.id).tags
    # the folder is free again: the next mirror of the run (the hook, as after a resume)
    # writes it and clears the failure tag
    (project / "blocked").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrackerWarning)
        stack.hook.lamina_after_run(run=stack.metadata.get_run(run.id), stack=stack)
    assert "tracker-failed:wandb" not in stack.metadata.get_run(run.id).tags
    assert run.id in wandb_run_files(project / "blocked")


def test_idle_without_a_project_and_bad_mode_fails_at_load(project: Path) -> None:
    stack = write_config(project, "")
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrackerWarning)
        churn_flow().run(stack=stack, rows=60)
    assert not (project / "wandb").exists()
    with pytest.raises(ConfigError, match="mode"):
        write_config(project, '[plugins.tracking_wandb]\nproject = "p"\nmode = "offlne"\n')
