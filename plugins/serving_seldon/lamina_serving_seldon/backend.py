"""The ``seldon`` serving backend: resolves the deployment's models, writes each variant's
MLServer ``model-settings.json`` into the datastore beside the artifacts, and writes (or
applies) the Seldon resources."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from lamina.sdk import Deployment, ServingError, resolve_model
from lamina_serving_seldon.resources import model_settings, v1_resource, v2_resources
from lamina_serving_seldon.validate import validate_resource


class SeldonBackend:
    """Generates Seldon Core v2 (and/or v1) resources for lamina deployments."""

    def __init__(self, options: Any, stack: Any) -> None:
        self.options = options
        self.stack = stack
        self.folder = Path(stack.resolve_path(options.output_dir))

    def _datastore_url(self) -> str:
        return self.options.datastore_url or self.stack.redact(self.stack.datastore.url)

    def render(self, deployment: Deployment) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        """The resources and each variant's model settings (validated; nothing written)."""
        url = self._datastore_url()
        variants = list(deployment.variants) + ([deployment.mirror] if deployment.mirror else [])
        refs: dict[str, str] = {}
        settings: dict[str, dict[str, Any]] = {}
        uris: dict[str, str] = {}
        for v in variants:
            loaded = resolve_model(self.stack, v.model)
            refs[v.name] = loaded.ref
            settings[v.name] = model_settings(f"{deployment.name}-{v.name}", url,
                                              loaded.artifact.to_dict(), loaded.ref)
            uris[v.name] = f"{url.rstrip('/')}/{self.settings_key(deployment.name, v.name).rsplit('/', 1)[0]}"
        docs: list[dict[str, Any]] = []
        if self.options.core_version in ("v2", "both"):
            docs += v2_resources(deployment, refs, namespace=self.options.namespace,
                                 storage_uris=uris, server=self.options.server,
                                 requirements=self.options.requirements)
        if self.options.core_version in ("v1", "both"):
            docs.append(v1_resource(deployment, settings, namespace=self.options.namespace,
                                    image=self.options.image))
        problems = [p for d in docs for p in validate_resource(d)]
        if problems:
            raise ServingError("generated Seldon resources do not validate:\n  "
                               + "\n  ".join(problems),
                               hint="report this as a lamina-serving-seldon bug")
        return docs, settings

    @staticmethod
    def settings_key(deployment: str, variant: str) -> str:
        return f"serving/{deployment}/{variant}/model-settings.json"

    def deploy(self, deployment: Deployment, *, dry_run: bool = False) -> str:
        import yaml

        docs, settings = self.render(deployment)
        text = yaml.safe_dump_all(docs, sort_keys=False)
        if dry_run:
            listing = "\n".join(f"# {self.settings_key(deployment.name, n)}: {json.dumps(s)}"
                                for n, s in settings.items())
            return f"{listing}\n---\n{text}"
        for name, s in settings.items():
            self.stack.datastore.put_record(self.settings_key(deployment.name, name),
                                            json.dumps(s, indent=2).encode())
        self.folder.mkdir(parents=True, exist_ok=True)
        manifest = self.folder / f"{deployment.name}.yaml"
        manifest.write_text(text)
        if self.options.apply:
            self._kubectl("apply", "-f", str(manifest))
        target = (f"{deployment.name}.experiment" if any(d["kind"] == "Experiment" for d in docs)
                  else f"{deployment.name}-{deployment.variants[0].name}")
        endpoint = f"{self.options.inference_url.rstrip('/')}/v2/models/{target}/infer"
        self.stack.hook.lamina_model_deployed(deployment=deployment, endpoint=endpoint)
        return endpoint if self.options.apply else f"{endpoint} (manifests written to {manifest})"

    def _kubectl(self, *args: str) -> None:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            raise ServingError("serving.apply = true needs kubectl on PATH",
                               hint="install kubectl, or set apply = false and apply the "
                               "written manifests yourself")
        proc = subprocess.run([kubectl, *args, "-n", self.options.namespace],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise ServingError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}",
                               hint="check the cluster context (kubectl config current-context)")

    def undeploy(self, name: str) -> None:
        manifest = self.folder / f"{name}.yaml"
        if not manifest.exists():
            raise ServingError(f"no Seldon deployment named {name!r} in {self.folder}",
                               hint=f"deployments: {', '.join(self._names()) or 'none'}")
        if self.options.apply:
            self._kubectl("delete", "-f", str(manifest))
        manifest.unlink()

    def _names(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.yaml")) if self.folder.is_dir() else []

    def list_deployments(self) -> list[Any]:
        """Each deployment written: its name, its manifest and the model (``FLOW/RUN/STEP``)
        of each variant, read from the manifest's ``lamina.dev/model`` annotations (what
        ``lamina gc`` keeps)."""
        return [{"name": n, "manifest": str(self.folder / f"{n}.yaml"),
                 "variants": [{"model": m} for m in self._models(n)]} for n in self._names()]

    def _models(self, name: str) -> list[str]:
        import yaml

        try:
            docs = list(yaml.safe_load_all((self.folder / f"{name}.yaml").read_text()))
        except (OSError, yaml.YAMLError):
            return []
        found: list[str] = []
        for doc in docs:
            notes = ((doc or {}).get("metadata") or {}).get("annotations") or {}
            model = notes.get("lamina.dev/model")
            if isinstance(model, str) and model not in found:
                found.append(model)
        return found

    def check(self) -> str:
        from importlib.metadata import version

        kubectl = shutil.which("kubectl")
        if self.options.apply and kubectl is None:
            raise ServingError("serving.apply = true needs kubectl on PATH",
                               hint="install kubectl or set apply = false")
        return (f"seldon ({self.options.core_version}) in namespace {self.options.namespace}; "
                f"manifests in {self.folder}; jsonschema {version('jsonschema')}; "
                f"kubectl {'found' if kubectl else 'absent'}")
