"""``python -m lamina_tracking_wandb.push``: write one W&B run from a JSON job on stdin
and print the run's folder. Run by the plugin in a child process, so that the run files
are complete when it exits (W&B's service writes them after ``finish()`` returns) and the
host process keeps no W&B state."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import Any


def push(job: dict[str, Any]) -> str:
    """Write the run ``job`` describes (init arguments, history rows, summary, artifacts)."""
    import wandb

    os.makedirs(job["init"]["dir"], exist_ok=True)
    settings = wandb.Settings(
        mode=job["mode"], silent=True, console="off", x_disable_stats=True, disable_git=True,
        save_code=False, disable_job_creation=True, x_disable_machine_info=True,
        init_timeout=60)
    run = wandb.init(settings=settings, **job["init"])
    try:
        for step, row in job["history"]:
            run.log(row, step=step)
        for key, value in job["summary"].items():
            run.summary[key] = value
        with tempfile.TemporaryDirectory(prefix="lamina-wandb-") as tmp:
            for spec in job["artifacts"]:
                artifact = wandb.Artifact(spec["name"], type=spec["type"],
                                          metadata=spec["metadata"])
                for path, name in spec["files"]:
                    artifact.add_file(path, name=name)
                for name, text in spec["texts"]:
                    local = os.path.join(tmp, f"{spec['name']}-{name}")
                    with open(local, "w") as out:
                        out.write(text)
                    artifact.add_file(local, name=name)
                run.log_artifact(artifact, aliases=spec["aliases"])
        folder = os.path.dirname(str(run.dir))
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish(exit_code=job["exit_code"])
    wandb.teardown()  # waits for the service: the run files are complete
    return folder


def main() -> int:
    print(push(json.load(sys.stdin)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
