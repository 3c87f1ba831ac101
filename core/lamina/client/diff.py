"""``lamina diff A B``: what changed between two iterations, and where it shows."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from lamina.client.client import Run


@attrs.frozen
class Change:
    """One difference: ``what`` (a param, a file, a step...), value in A, value in B."""

    what: str
    a: Any
    b: Any


@attrs.frozen
class RunDiff:
    """Differences between run ``a`` and run ``b``, grouped the way people ask."""

    a: str
    b: str
    status: Change | None
    params: list[Change]
    code_files: list[Change]  # a/b: object keys ("" when absent)
    code_diffs: dict[str, str]  # file -> unified diff
    step_code: list[Change]
    artifacts: list[Change]  # "step[index]" -> result keys
    metrics: list[Change]
    timings: list[Change]  # step -> seconds (sum of its tasks)
    environment: list[Change]
    features: list[Change] = attrs.field(factory=list)  # training sets: "step[i] view"
    #: data-source reads whose version or content changed: "step[i] source: what" ->
    #: "version V, content C" (None where one run did not read it)
    data_inputs: list[Change] = attrs.field(factory=list)

    @property
    def identical(self) -> bool:
        return not any(
            (self.status, self.params, self.code_files, self.step_code, self.artifacts,
             self.metrics, self.features, self.data_inputs)
        )

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(attrs.asdict(self), default=str))

    def render(self) -> str:
        """Plain text, the CLI's output."""
        lines = [f"diff {self.a} -> {self.b}"]

        def section(title: str, changes: list[Change], fmt: Any = repr) -> None:
            if not changes:
                return
            lines.append(f"\n{title}:")
            for c in changes:
                lines.append(f"  {c.what}: {fmt(c.a)} -> {fmt(c.b)}")

        if self.status:
            lines.append(f"\nstatus: {self.status.a} -> {self.status.b}")
        section("params", self.params)
        section("environment", self.environment, str)
        if self.code_files:
            lines.append("\ncode:")
            for c in self.code_files:
                state = "added" if not c.a else "removed" if not c.b else "changed"
                lines.append(f"  {c.what}: {state}")
            for text in self.code_diffs.values():
                lines.extend("    " + line for line in text.rstrip("\n").splitlines())
        section("steps whose code changed", self.step_code, lambda k: (k or "-")[:12])
        section("artifacts changed (by content hash)", self.artifacts, lambda k: (k or "-")[:12])
        section("data inputs changed (version, content hash)", self.data_inputs,
                lambda v: v or "not read")
        section("features (training sets)", self.features, lambda v: v or "-")
        section("metrics", self.metrics, lambda v: "-" if v is None else f"{v:g}")
        section("timings (s)", self.timings, lambda v: "-" if v is None else f"{v:.2f}")
        if self.identical:
            lines.append("\nno difference in params, code, artifacts or metrics")
        return "\n".join(lines)


def _dict_changes(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    return [
        Change(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)
    ]


def diff_runs(run_a: Run, run_b: Run) -> RunDiff:
    """Compare two runs (of the same flow or not)."""
    from lamina.versioning.code import text_diff

    ra, rb = run_a.record, run_b.record
    artifacts = run_a.client.stack.artifacts
    code_files = _dict_changes(dict(ra.code_files), dict(rb.code_files))
    code_diffs: dict[str, str] = {}
    for change in code_files:
        text_a = artifacts.get_bytes(change.a).decode(errors="replace") if change.a else ""
        text_b = artifacts.get_bytes(change.b).decode(errors="replace") if change.b else ""
        code_diffs[change.what] = text_diff(
            text_a, text_b, f"{ra.run_id}/{change.what}", f"{rb.run_id}/{change.what}"
        )
    outputs_a: dict[str, str | None] = {}
    outputs_b: dict[str, str | None] = {}
    metrics_a: dict[str, float] = {}
    metrics_b: dict[str, float] = {}
    times_a: dict[str, float] = {}
    times_b: dict[str, float] = {}
    reads_a: dict[str, str] = {}
    reads_b: dict[str, str] = {}
    for run, outputs, metrics, times, reads in (
        (run_a, outputs_a, metrics_a, times_a, reads_a),
        (run_b, outputs_b, metrics_b, times_b, reads_b),
    ):
        for t in run.tasks():
            for d in t.data_inputs:
                what = d.table or " ".join((d.query or "").split())
                if d.params:
                    what += " " + json.dumps(dict(d.params), sort_keys=True, default=str)
                reads[f"{t.step}[{t.index}] {d.source}: {what}"] = (
                    f"{d.version_kind} version {d.version[:12]}, " if d.version else "no version, "
                ) + f"{d.rows} rows, content {d.content_hash[:12]}"
            outputs[f"{t.step}[{t.index}]"] = t.record.output.key if t.record.output else None
            for name, value in t.metrics.items():
                metrics[f"{t.step}[{t.index}].{name}" if t.record.element else f"{t.step}.{name}"] = value
            if t.duration is not None and not t.record.reused_from:
                times[t.step] = times.get(t.step, 0.0) + t.duration
    environment = []
    if ra.python_version != rb.python_version:
        environment.append(Change("python", ra.python_version, rb.python_version))
    if ra.packages_key != rb.packages_key and ra.packages_key and rb.packages_key:
        pa = json.loads(artifacts.get_bytes(ra.packages_key))
        pb = json.loads(artifacts.get_bytes(rb.packages_key))
        environment.extend(Change(f"package {c.what}", c.a, c.b) for c in _dict_changes(pa, pb))
    if (ra.git_commit, ra.git_dirty) != (rb.git_commit, rb.git_dirty):
        environment.append(
            Change("git", f"{ra.git_commit[:10]}{'+dirty' if ra.git_dirty else ''}",
                   f"{rb.git_commit[:10]}{'+dirty' if rb.git_dirty else ''}")
        )
    from lamina.features.training import lineage_summary

    features = _dict_changes(lineage_summary(artifacts, ra.run_id),
                             lineage_summary(artifacts, rb.run_id))
    return RunDiff(
        a=ra.run_id,
        b=rb.run_id,
        status=Change("status", ra.status, rb.status) if ra.status != rb.status else None,
        params=_dict_changes(dict(ra.params), dict(rb.params)),
        code_files=code_files,
        code_diffs=code_diffs,
        step_code=_dict_changes(dict(ra.step_code), dict(rb.step_code)),
        artifacts=_dict_changes(outputs_a, outputs_b),
        metrics=_dict_changes(metrics_a, metrics_b),
        timings=[Change(s, times_a.get(s), times_b.get(s)) for s in sorted(set(times_a) | set(times_b))],
        environment=environment,
        features=features,
        data_inputs=_dict_changes(reads_a, reads_b),  # type: ignore[arg-type]
    )
