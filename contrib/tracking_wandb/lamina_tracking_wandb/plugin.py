"""Lifecycle hooks mirroring lamina into Weights & Biases, offline by default.

* ``lamina_after_run`` / ``lamina_on_run_error``: one W&B run per lamina run (W&B run id
  = lamina run id, name = the run id, group = the flow) with the flow parameters and
  lamina's facts (``lamina_run_id``, ``lamina_flow``...) as config, the run's tags as W&B tags, every metric a
  task logged as ``STEP/NAME`` in the history (a foreach index as W&B's step) and its last
  value in the summary, and the stored results of the steps named in ``artifacts`` as an
  artifact.
* ``lamina_model_registered``: a ``register`` run logging the model's stored bytes as a
  W&B artifact of type ``model`` named like the lamina model, aliased ``lamina-vN`` (and
  the aliases it has), with lamina's version, reference and registration as metadata.
* ``lamina_model_promoted``: a ``promote`` run logging the same artifact again with the
  alias (W&B deduplicates the bytes); the move (who, when, why) is its config.

In offline mode (the default) the run files are written under ``dir`` (``wandb/`` in the
project), complete when the hook returns, and nothing touches the network; ``wandb sync DIR/wandb/offline-run-*`` uploads
them later. A failure never fails a run: retried, then a
:class:`lamina.sdk.TrackerWarning` and the run tagged ``tracker-failed:wandb``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import attrs

from lamina.sdk import (
    AliasChange,
    ModelVersion,
    RunRecord,
    RunSummary,
    call_tracker,
    hookimpl,
    run_summary,
)

#: The entry-point name this distribution registers the plugin under.
PLUGIN_NAME = "tracking_wandb"
MODES = ("offline", "online", "disabled")


def _positive(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


def _not_negative(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be 0 or more, got {value!r}")


@attrs.frozen
class WandbOptions:
    """Options of ``[plugins.tracking_wandb]``, validated by lamina when a stack loads.

    :param project: the W&B project runs go to. Empty: the plugin is idle.
    :param entity: the W&B team or user (online mode; default: the API key's).
    :param mode: ``offline`` (files under ``dir``, synced later with ``wandb sync``),
        ``online`` (needs ``WANDB_API_KEY`` in the environment) or ``disabled``.
    :param dir: where the ``wandb/`` folder of run files is written, relative to the
        project (default: the project folder).
    :param artifacts: steps whose stored results are logged as an artifact of the run.
    :param register_models: mirror registered versions and alias moves as model artifacts.
    :param stacks: mirror only runs on these stacks (empty: every stack).
    :param retries: further attempts after a failed call (bounded backoff, at most 5 s).
    :param timeout: seconds one W&B run may take to write (offline) or upload (online)
        before the attempt is abandoned.
    """

    project: str = ""
    entity: str = ""
    mode: str = attrs.field(default="offline", validator=attrs.validators.in_(MODES))
    dir: str = "."
    artifacts: tuple[str, ...] = ()
    register_models: bool = True
    stacks: tuple[str, ...] = ()
    retries: int = attrs.field(default=1, validator=_not_negative)
    timeout: float = attrs.field(default=120.0, validator=_positive)


@hookimpl
def lamina_plugin_options() -> type:
    return WandbOptions


def _options(stack: Any) -> WandbOptions | None:
    """The stack's options when the plugin is active for it, else None."""
    if stack is None:
        return None
    options = stack.plugin_options(PLUGIN_NAME)
    if not isinstance(options, WandbOptions) or not options.project or options.mode == "disabled":
        return None
    if options.stacks and getattr(stack, "name", None) not in options.stacks:
        return None
    return options


class Mirror:
    """W&B runs for one stack's options (what the hooks use; from a notebook,
    ``Mirror(stack).run(stack.metadata.get_run(ID))`` mirrors an older run again).

    Each W&B run is written by a child process (:mod:`lamina_tracking_wandb.push`): W&B's
    service writes run files after ``finish()`` returns and keeps process-wide state, so the
    child's exit is what guarantees complete files, and the host's own W&B runs (a
    notebook's) are left alone.
    """

    def __init__(self, stack: Any, options: WandbOptions | None = None) -> None:
        self.stack = stack
        self.options = options or stack.plugin_options(PLUGIN_NAME)
        self.dir = stack.resolve_path(self.options.dir)

    def _push(self, job: dict[str, Any]) -> str:
        """Run one W&B run's job in a child process; returns the run's folder."""
        import subprocess
        import sys

        from lamina.sdk import LaminaError

        job["init"].update(project=self.options.project, entity=self.options.entity or None,
                           dir=self.dir)
        job["mode"] = self.options.mode
        done = subprocess.run([sys.executable, "-m", "lamina_tracking_wandb.push"],
                              input=json.dumps(job, default=str), capture_output=True,
                              text=True, timeout=self.options.timeout)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout or "no output").strip().splitlines()
            raise LaminaError(f"wandb exited with code {done.returncode}: {lines[-1]}")
        return done.stdout.strip()

    def run(self, run: RunRecord) -> str:
        """Mirror a finished (or failed) lamina run; returns the W&B run's folder."""
        summary = run_summary(run, self.stack)
        by_step: dict[int, dict[str, float]] = defaultdict(dict)
        for m in summary.metrics:
            by_step[m.step][m.key] = m.value
        job = {
            "init": {"id": _run_id(run.run_id), "name": run.run_id, "group": run.flow,
                     "job_type": "run", "config": {**summary.params, **summary.system},
                     "tags": [_tag(t) for t in run.tags if not t.startswith("tracker-failed:")]},
            "history": sorted(by_step.items()),
            "summary": {"lamina_status": run.status},
            "artifacts": [a for step in self.options.artifacts
                          if (a := self._artifact(summary, step, f"{run.flow}-{step}", "result"))],
            "exit_code": 0 if run.status == "succeeded" else 1,
        }
        return self._push(job)

    def _artifact(self, summary: RunSummary, step: str, name: str, kind: str,
                  aliases: list[str] | None = None, metadata: dict[str, Any] | None = None
                  ) -> dict[str, Any] | None:
        """A step's stored results (bytes as stored, no value loaded) as an artifact."""
        found = {index: ref for (s, index), ref in summary.outputs.items() if s == step}
        if not found:
            return None
        files, texts = [], []
        for index, ref in sorted(found.items()):
            stem = str(index) if len(found) > 1 else "result"
            files.append([self.stack.datastore.blob_path(ref.key), f"{stem}.{ref.serializer}"])
            texts.append([f"{stem}.ref.json", json.dumps(ref.to_dict(), indent=1, default=str)])
        return {"name": _artifact_name(name), "type": kind, "aliases": aliases,
                "metadata": metadata or {}, "files": files, "texts": texts}

    def register(self, version: ModelVersion, *, alias: str | None = None,
                 change: AliasChange | None = None) -> str:
        """Log a registered version as a model artifact (again with ``alias`` for a
        promotion); returns the W&B run's folder."""
        run = self.stack.metadata.get_run(version.run_id)
        step = version.ref.split("/")[-1]
        config: dict[str, Any] = {"lamina_model": version.name,
                                  "lamina_version": version.version,
                                  "lamina_ref": version.ref, "lamina_run_id": version.run_id}
        if change is not None:
            config.update({"lamina_alias": change.alias, "lamina_previous": change.previous,
                           "lamina_removed": change.version is None, "lamina_by": change.user,
                           "lamina_at": change.at, "lamina_reason": change.reason,
                           "lamina_forced": change.forced})
        job_type = "register" if change is None else "promote"
        aliases = [f"lamina-v{version.version}", *version.aliases, *([alias] if alias else [])]
        metadata = {"lamina_version": version.version, "lamina_ref": version.ref,
                    "lamina_run_id": version.run_id,
                    "lamina_registered_by": version.registered_by,
                    "lamina_registered_at": version.registered_at,
                    **{f"lamina_metadata_{k}": v for k, v in version.metadata.items()}}
        artifact = None
        if change is None or change.version is not None:
            artifact = self._artifact(run_summary(run, self.stack), step, version.name, "model",
                                      aliases=list(dict.fromkeys(aliases)), metadata=metadata)
        job = {"init": {"name": f"{job_type}-{version.name}-v{version.version}",
                        "group": run.flow, "job_type": job_type, "config": config},
               "history": [], "summary": {}, "artifacts": [artifact] if artifact else [],
               "exit_code": 0}
        return self._push(job)


def _tag(tag: str) -> str:
    return tag[:64]  # W&B's limit


def _run_id(run_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in run_id)


def _artifact_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


# ---------------------------------------------------------------------- hooks


def _mirror_run(run: RunRecord, stack: Any) -> None:
    options = _options(stack)
    if options is None:
        return
    call_tracker(PLUGIN_NAME, lambda: Mirror(stack, options).run(run), stack=stack,
           run_id=run.run_id, retries=options.retries, what=f"run {run.flow}/{run.run_id}")


@hookimpl
def lamina_after_run(run: RunRecord, stack: Any) -> None:
    _mirror_run(run, stack)


@hookimpl
def lamina_on_run_error(run: RunRecord, error: BaseException, stack: Any) -> None:
    _mirror_run(run, stack)


@hookimpl
def lamina_model_registered(version: ModelVersion, stack: Any) -> None:
    options = _options(stack)
    if options is None or not options.register_models:
        return
    call_tracker(PLUGIN_NAME, lambda: Mirror(stack, options).register(version), stack=stack,
           run_id=version.run_id, retries=options.retries,
           what=f"model {version.name} version {version.version}")


@hookimpl
def lamina_model_promoted(version: ModelVersion, change: AliasChange, stack: Any) -> None:
    options = _options(stack)
    if options is None or not options.register_models:
        return
    alias = change.alias if change.version is not None else None
    call_tracker(PLUGIN_NAME,
           lambda: Mirror(stack, options).register(version, alias=alias, change=change),
           stack=stack, run_id=version.run_id, retries=options.retries,
           what=f"alias {change.alias} of model {change.name}")
