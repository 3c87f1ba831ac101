"""What each lake source does beyond the conformance suite: registration and options,
partition layout and pruning, time travel's limits, and the errors of bad input."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lamina.builtin.data_lakes.common import IcebergOptions, LakeOptions
from lamina.builtin.data_lakes.delta import DeltaSource
from lamina.builtin.data_lakes.iceberg import IcebergSource
from lamina.builtin.data_lakes.parquet import ParquetSource
from lamina.config.options import build_options
from lamina.errors import DataSourceError, OptionError
from lamina.kernel.pluginmanager import PluginManager


def events(days: list[str], start: int = 0) -> pa.Table:
    return pa.table({"id": list(range(start, start + len(days))), "day": days,
                     "value": [float(i) for i in range(len(days))]})


def specs() -> dict[str, Any]:
    pm = PluginManager(autoload=False)
    return {spec.name: spec for group in pm.hook.lamina_data_sources() for spec in group}


def test_the_builtin_plugin_offers_the_three_lake_sources(tmp_path: Path) -> None:
    found = specs()
    assert {"parquet", "delta", "iceberg"} <= set(found)
    assert found["delta"].install_hint == "pip install 'lamina[delta]'"
    assert found["iceberg"].install_hint == "pip install 'lamina[iceberg]'"
    options = build_options(found["parquet"].config, {"url": str(tmp_path), "partition_by":
                                                      ["day"]})
    source = found["parquet"].factory("lake", options, None)
    assert source.write("events", events(["a", "b"])) == 2
    assert source.read(table="events").input.plugin == "parquet"


def test_options_refuse_credentials_in_the_url() -> None:
    with pytest.raises(OptionError, match="holds credentials"):
        build_options(LakeOptions, {"url": "s3://KEY:SECRET@bucket/lake"})
    with pytest.raises(OptionError):
        build_options(LakeOptions, {"url": "s3://b/l", "bogus": 1})
    assert build_options(LakeOptions, {"url": "exports@2026/lake"}).url == "exports@2026/lake"


def test_parquet_writes_hive_partitions_and_prunes_them(tmp_path: Path) -> None:
    source = ParquetSource("lake", LakeOptions(url=str(tmp_path), partition_by=("day",)))
    source.write("events", events(["2026-01-01", "2026-01-02", "2026-01-02"]))
    source.write("events", events(["2026-01-03"], start=3))  # append keeps the layout
    folders = sorted(p.name for p in (tmp_path / "events").iterdir())
    assert folders == ["day=2026-01-01", "day=2026-01-02", "day=2026-01-03"]
    path, files, _ = source._listing("events")
    dataset = source._dataset(path, files)
    pruned = list(dataset.get_fragments(filter=pc.field("day") == "2026-01-02"))
    assert len(pruned) == 1 and "day=2026-01-02" in pruned[0].path
    got = source.read(table="events", filter=pc.field("day") == "2026-01-02",
                      columns=["id"]).table
    assert sorted(got.column("id").to_pylist()) == [1, 2]
    expr = source.read(table="events", filter=(pc.field("value") > 0.5)).input
    assert expr.filter is not None and "value" in expr.filter


def test_parquet_as_of_reads_an_unchanged_table_and_refuses_a_changed_one(
        tmp_path: Path) -> None:
    source = ParquetSource("lake", LakeOptions(url=str(tmp_path)))
    source.write("events", events(["a"]))
    first = source.read(table="events")
    assert source.read(table="events", as_of=first.input.version).input.content_hash == \
        first.input.content_hash
    source.write("events", events(["b"], start=1))
    with pytest.raises(DataSourceError, match="changed since version") as err:
        source.read(table="events", as_of=first.input.version)
    assert "Delta or Iceberg" in (err.value.hint or "")


def test_a_bad_filter_or_table_name_is_a_clear_error(tmp_path: Path) -> None:
    source = ParquetSource("lake", LakeOptions(url=str(tmp_path)))
    source.write("events", events(["a"]))
    with pytest.raises(DataSourceError, match="neither a pyarrow expression") as err:
        source.read(table="events", filter={"day": "a"})
    assert "'lake'" in str(err.value)
    with pytest.raises(DataSourceError, match="not a relative name"):
        source.read(table="../outside")
    with pytest.raises(DataSourceError, match="has no column 'nope'"):
        source.read(table="events", columns=["id", "nope"])


def test_delta_vacuumed_version_is_a_clear_error(tmp_path: Path) -> None:
    import deltalake

    source = DeltaSource("lake", LakeOptions(url=str(tmp_path)))
    source.write("events", events(["a", "b"]))
    old = source.read(table="events").input.version
    source.write("events", events(["c"], start=2), mode="overwrite")
    assert source.read(table="events", as_of=old).table.num_rows == 2  # time travel
    deltalake.DeltaTable(str(tmp_path / "events")).vacuum(
        retention_hours=0, enforce_retention_duration=False, dry_run=False)
    with pytest.raises(DataSourceError, match=f"version {old} of table 'events' no longer "
                       "exists") as err:
        source.read(table="events", as_of=old)
    assert "'lake'" in str(err.value) and "logRetentionDuration" in (err.value.hint or "")
    with pytest.raises(DataSourceError, match="not a Delta version"):
        source.read(table="events", as_of="yesterday")


def test_delta_names_a_column_it_cannot_store(tmp_path: Path) -> None:
    source = DeltaSource("lake", LakeOptions(url=str(tmp_path)))
    with pytest.raises(DataSourceError, match="column 'clock' of type time64"):
        source.write("events", pa.table({"id": [1], "clock": pa.array([1], pa.time64("us"))}))


def test_iceberg_expired_snapshot_is_a_clear_error(tmp_path: Path) -> None:
    source = IcebergSource("lake", IcebergOptions(url=str(tmp_path)))
    source.write("events", events(["a", "b"]))
    old = source.read(table="events").input.version
    source.write("events", events(["c"], start=2), mode="overwrite")
    assert old is not None
    assert source.read(table="events", as_of=old).table.num_rows == 2  # time travel
    table = source.catalog.load_table(("default", "events"))
    table.maintenance.expire_snapshots().by_id(int(old)).commit()
    with pytest.raises(DataSourceError, match=f"snapshot {old} of table 'events' no longer "
                       "exists") as err:
        source.read(table="events", as_of=old)
    assert "'lake'" in str(err.value) and err.value.hint


def test_iceberg_takes_its_own_filter_strings_and_namespaces(tmp_path: Path) -> None:
    source = IcebergSource("lake", IcebergOptions(url=str(tmp_path)))
    source.write("sales.events", events(["a", "b", "c"]))
    got = source.read(table="sales.events", filter="day = 'b' or id = 2", columns=["id"])
    assert sorted(got.table.column("id").to_pylist()) == [1, 2]
    assert got.input.filter == "day = 'b' or id = 2"
    with pytest.raises(DataSourceError, match="namespace 'default'"):
        source.read(table="events")


def test_iceberg_on_s3_needs_a_catalog() -> None:
    with pytest.raises(DataSourceError, match="needs a catalog database"):
        IcebergSource("lake", IcebergOptions(url="s3://bucket/warehouse"))


@pytest.mark.parametrize(("module", "factory", "hint"), [
    ("deltalake", lambda: DeltaSource("lake", LakeOptions(url="x")), "lamina[delta]"),
    ("pyiceberg.catalog.sql", lambda: IcebergSource("lake", IcebergOptions(url="x")),
     "lamina[iceberg]"),
])
def test_a_missing_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch, module: str,
                                               factory: Any, hint: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(DataSourceError, match="not installed") as err:
        factory()
    assert hint in (err.value.hint or "") and "'lake'" in str(err.value)


def test_collecting_the_lake_sources_imports_no_heavy_library() -> None:
    import subprocess

    code = ("import sys\nfrom lamina.kernel.pluginmanager import PluginManager\n"
            "specs = PluginManager(autoload=False).hook.lamina_data_sources()\n"
            "assert {s.name for group in specs for s in group} >= {'parquet', 'delta', "
            "'iceberg'}\n"
            "print(sorted(m for m in ('pyarrow', 'deltalake', 'pyiceberg', 's3fs', "
            "'sqlalchemy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_delta_on_s3_keeps_every_commit_of_concurrent_writers(
        s3_bucket: str, seaweedfs: Any) -> None:
    import threading

    source = DeltaSource("lake", LakeOptions(url=f"s3://{s3_bucket}/delta",
                                             endpoint_url=seaweedfs.endpoint))
    source.write("events", pa.table({"id": [0]}))
    failures: list[BaseException] = []

    def append(worker: int) -> None:
        for i in range(3):
            try:
                source.write("events", pa.table({"id": [worker * 100 + i]}))
            except BaseException as exc:  # reported below
                failures.append(exc)

    threads = [threading.Thread(target=append, args=(w,)) for w in (1, 2, 3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    got = source.read(table="events")
    assert sorted(got.table.column("id").to_pylist()) == [0, 100, 101, 102, 200, 201, 202,
                                                          300, 301, 302]
    assert got.input.version == "9"


@pytest.mark.parametrize("plugin", ["parquet", "delta", "iceberg"])
def test_credentials_from_the_options_reach_s3_and_are_never_recorded(
        plugin: str, s3_bucket: str, seaweedfs: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import s3_util

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    options: dict[str, Any] = {"url": f"s3://{s3_bucket}/{plugin}",
                               "endpoint_url": seaweedfs.endpoint}
    if plugin == "iceberg":
        options["catalog"] = f"sqlite:///{tmp_path / 'catalog.db'}"

    def build(key: str, secret: str) -> Any:
        spec = specs()[plugin]
        made = build_options(spec.config, {**options, "access_key_id": key,
                                           "secret_access_key": secret})
        assert secret not in repr(made)
        return spec.factory("lake", made, None)

    admin = build(s3_util.ADMIN_KEY, s3_util.ADMIN_SECRET)
    assert admin.write("events", events(["a", "b"])) == 2
    got = admin.read(table="events")
    assert got.table.num_rows == 2
    assert s3_util.ADMIN_SECRET not in repr(got.input)
    reader = build(s3_util.READER_KEY, s3_util.READER_SECRET)  # SeaweedFS: read and list
    assert reader.read(table="events").table.num_rows == 2
    with pytest.raises(DataSourceError, match=f"'lake' \\({plugin}\\): .* refused access"):
        reader.write("events", events(["c"], start=2))
    wrong = build(s3_util.ADMIN_KEY, "not-the-secret")
    with pytest.raises(DataSourceError, match=f"'lake' \\({plugin}\\): .* refused access") \
            as err:
        wrong.read(table="events")
    assert "not-the-secret" not in str(err.value) and "credentials" in (err.value.hint or "")


def test_parquet_reads_a_single_file_table_and_ignores_hidden_files(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(events(["a", "b"]), tmp_path / "plain.parquet")
    source = ParquetSource("lake", LakeOptions(url=f"file://{tmp_path}"))
    got = source.read(table="plain", columns=["id"])
    assert got.table.column("id").to_pylist() == [0, 1] and got.input.version
    source.write("events", events(["a"]))
    (tmp_path / "events" / "_SUCCESS").write_text("")
    (tmp_path / "events" / ".part.crc").write_text("x")
    assert source.read(table="events").table.num_rows == 1


def test_a_relative_lake_url_is_relative_to_the_project_root(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lamina.stack import Stack

    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    (project / "lamina.toml").write_text("[stacks.local]\ndatastore = \"file://.lamina\"\n")
    monkeypatch.chdir(project / "notebooks")  # a notebook runs in a subfolder
    for var in ("LAMINA_STACK", "LAMINA_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    stack = Stack.load()
    spec = specs()["parquet"]
    source = spec.factory("lake", build_options(spec.config, {"url": "data/lake"}), stack)
    source.write("events", events(["a"]))
    assert (project / "data" / "lake" / "events").is_dir()


def test_delta_version_never_written_is_a_clear_error(tmp_path: Path) -> None:
    source = DeltaSource("lake", LakeOptions(url=str(tmp_path)))
    source.write("events", events(["a"]))
    with pytest.raises(DataSourceError, match="version 7 of table 'events' no longer exists "
                       "or never did"):
        source.read(table="events", as_of="7")


@pytest.mark.parametrize("plugin", ["parquet", "delta"])
def test_check_names_a_missing_bucket(plugin: str, seaweedfs: Any, s3_env: Any) -> None:
    spec = specs()[plugin]
    source = spec.factory("lake", build_options(spec.config, {
        "url": "s3://no-such-bucket-here/lake", "endpoint_url": seaweedfs.endpoint}), None)
    with pytest.raises(DataSourceError, match=r"bucket 'no-such-bucket-here' .* does not exist"):
        source.check()
