"""`deploy_from_file` on the builtin local serving backend (what `lamina deploy SPEC` calls)."""

from __future__ import annotations

import httpx
import pytest
from envs_util import free_port
from serving_util import infer_body

from lamina.serving import deploy_from_file, read_prediction_log
from lamina.serving.deployment import serving_backend
from lamina.stack import Stack

pytestmark = pytest.mark.slow


def test_local_backend_deploys_a_spec_file_and_undeploys_it(trained) -> None:
    project, ref_a, ref_b = trained
    port = free_port()
    spec = project / "deploy-ab.toml"
    spec.write_text(f'name = "iris-spec"\nport = {port}\n'
                    f'[[variants]]\nname = "old"\nmodel = "{ref_a}"\nweight = 50\n'
                    f'[[variants]]\nname = "new"\nmodel = "{ref_b}"\nweight = 50\n'
                    f'[mirror]\nname = "shadow"\nmodel = "{ref_b}"\n')
    stack = Stack.load(cwd=project, env={})
    plan = deploy_from_file(spec, stack, dry_run=True)
    assert "would serve iris-spec" in plan and str(port) in plan
    assert not serving_backend(stack).list_deployments()  # a dry run starts nothing

    url = deploy_from_file(spec, stack)
    assert url == f"http://127.0.0.1:{port}/v2/models/iris-spec"
    backend = serving_backend(stack)
    try:
        assert [d["name"] for d in backend.list_deployments()] == ["iris-spec"]
        variants = set()
        for i in range(40):
            r = httpx.post(f"{url}/infer", json=infer_body([[5.1, 3.5, 1.4, 0.2]], id=f"d{i}"))
            assert r.status_code == 200
            variants.add(r.headers["lamina-variant"])
        assert variants == {"old", "new"}
        assert "1 deployment(s) running" in backend.check()
    finally:
        backend.undeploy("iris-spec")
    assert backend.list_deployments() == []
    log = read_prediction_log(stack, "iris-spec")
    # every request answered, and the mirror answered each one too (logged only)
    rows = list(zip(log["variant"].to_pylist(), log["request_id"].to_pylist(),
                    log["model"].to_pylist(), strict=True))
    assert sorted(r for v, r, _ in rows if v != "shadow") == sorted(f"d{i}" for i in range(40))
    shadow = [(r, m) for v, r, m in rows if v == "shadow"]
    assert len(shadow) == 40 and {m for _, m in shadow} == {ref_b}
