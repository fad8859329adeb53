"""``afdecomp plan PLAN.toml``: afdecomp.plan run from a TOML file; its tables, figure, store and errors."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

import afdecomp as afd
from afdecomp import cli

DESIGNS = """
[[design]]
n_queries = 8
n_samples = 5

[[design]]
n_queries = 16
n_samples = 5
"""

TRUTH = """
[truth.m0]
gap = 0.0
deployment_rate = 0.3
[truth.m1]
gap = 0.4
deployment_rate = 0.3
"""

SETTINGS = 'replicates = 6\nmethod = "glm"\nseed = 4\ntarget = 0.5\nstore = "plan.jsonl"\n'


@pytest.fixture
def write_plan(tmp_path, monkeypatch):
    """Write a PLAN.toml into tmp_path/study and run from tmp_path: a relative store is the TOML
    file's folder's, not the working folder's."""
    folder = tmp_path / "study"
    folder.mkdir()
    monkeypatch.chdir(tmp_path)

    def write(text: str = SETTINGS + DESIGNS + TRUTH):
        path = folder / "plan.toml"
        path.write_text(text)
        return path
    return write


def _csv(table: pd.DataFrame) -> pd.DataFrame:
    """The table as read back from a CSV file (empty strings become NaN, ...)."""
    return pd.read_csv(io.StringIO(table.to_csv(index=False)))


@pytest.fixture
def threads(monkeypatch):
    """Replicates on threads instead of worker processes (each new process imports afdecomp: seconds)."""
    monkeypatch.setattr(cli, "_plan_executor", lambda args: ThreadPoolExecutor(2))


def test_plan_writes_the_tables_and_figure_with_the_numbers_of_afd_plan(write_plan, tmp_path, capsys):
    path = write_plan()
    out = tmp_path / "out"
    assert cli.main(["plan", str(path), "--out", str(out), "--workers", "1", "--no-progress"]) == 0
    assert {p.name for p in out.iterdir()} == {"summary.csv", "replicates.parquet", "cheapest.csv", "power.png"}
    with ThreadPoolExecutor(2) as pool:   # seeds come from (seed, design, replicate): any executor
        direct = afd.plan([{"n_queries": 8, "n_samples": 5}, {"n_queries": 16, "n_samples": 5}],
                          {"m0": {"gap": 0.0, "deployment_rate": 0.3}, "m1": {"gap": 0.4, "deployment_rate": 0.3}},
                          replicates=6, method="glm", seed=4, executor=pool)
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2 * 2 and (summary["replicates"] == 6).all()
    pd.testing.assert_frame_equal(summary, _csv(direct.summary()))
    pd.testing.assert_frame_equal(pd.read_parquet(out / "replicates.parquet"), direct.replicates)
    assert list(summary["power"]) == list(direct.summary()["power"])
    cheapest = pd.read_csv(out / "cheapest.csv").set_index("model")
    pd.testing.assert_frame_equal(cheapest, _csv(direct.cheapest(0.5)).set_index("model"))
    assert cheapest.loc["m1", "power"] >= 0.5                    # a gap of 0.4 is found with 40 generations per tier
    text = capsys.readouterr().out
    assert f"read {path}: 2 design(s), 6 replicate(s) each, method glm" in text
    assert "power_se" in text and "cheapest design per question and model with power >= 0.5" in text


def test_replicates_option_overrides_the_file(write_plan, tmp_path, threads):
    path = write_plan()
    assert cli.main(["plan", str(path), "--replicates", "3", "--out", str(tmp_path / "out")]) == 0
    assert (pd.read_csv(tmp_path / "out" / "summary.csv")["replicates"] == 3).all()


def test_store_is_beside_the_toml_file_and_a_second_run_redoes_nothing(write_plan, tmp_path, capsys, threads):
    path = write_plan()
    assert cli.main(["plan", str(path)]) == 0
    store = path.parent / "plan.jsonl"
    assert store.is_file() and not (tmp_path / "plan.jsonl").exists()
    lines = store.read_text().splitlines()
    assert len(lines) == 1 + 2 * 6                       # the sweep's header, then one line per replicate
    first = capsys.readouterr().out
    assert cli.main(["plan", str(path)]) == 0
    assert store.read_text().splitlines() == lines       # every replicate was read back, none redone
    assert capsys.readouterr().out == first


@pytest.mark.parametrize("text, message", [
    (SETTINGS + "replicate = 5\n" + DESIGNS + TRUTH, "unknown key(s) ['replicate']"),
    (SETTINGS + TRUTH, "no designs; give each candidate design as a [[design]] table"),
    (SETTINGS + DESIGNS, "no truth"),
    ('truth = "fit.nc"\n' + DESIGNS, "fit.nc does not exist"),
    (SETTINGS + "ci_prob = \n" + DESIGNS + TRUTH, "not valid TOML (Invalid value (at line 6, column 11))"),
])
def test_bad_plan_files_exit_non_zero_naming_the_file(write_plan, capsys, text, message):
    path = write_plan(text)
    assert cli.main(["plan", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"afdecomp plan: error: {path}: ") and message in err, err


def test_workers_and_dask_are_one_or_the_other(write_plan, capsys):
    assert cli.main(["plan", str(write_plan()), "--workers", "2", "--dask", "tcp://127.0.0.1:8786"]) == 1
    assert "give --workers or --dask, not both" in capsys.readouterr().err
