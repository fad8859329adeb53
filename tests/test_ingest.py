"""afdecomp.ingest (native formats): round trips, load report, malformed input never lost."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import afdecomp as afd
from afdecomp.ingest import LogFormatError, UnknownFormatError
from afdecomp.schema import SchemaError


@pytest.fixture
def sim_df():
    df, _ = afd.simulate(n_models=2, n_queries=4, n_samples=2, variants=["default", "ncs"],
                         steering=[{"vector": "values", "layer": 3, "coefs": [1.0]}], seed=3)
    df["my_note"] = np.where(df.index % 2 == 0, "even", "odd")  # an extra column
    df["my_score"] = df.index.to_numpy() / 10.0
    df.loc[df.index[:3], "complied"] = pd.NA
    return df


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".csv"])
def test_round_trip_keeps_rows_labels_and_extra_columns(sim_df, tmp_path, suffix):
    path = afd.write_logs(sim_df, tmp_path / f"log{suffix}")
    back, rep = afd.load_logs(path, return_report=True)
    assert rep.formats == {suffix.lstrip("."): 1}
    assert len(back) == len(sim_df) == rep.rows
    key = "record_id"
    a = sim_df.set_index(key).sort_index()
    b = back.set_index(key).sort_index()
    assert (a.index == b.index).all()
    for col in ("model", "condition", "variant", "query_id", "steer_vector", "my_note"):
        assert (a[col].astype(str) == b[col].astype(str)).all(), col
    pd.testing.assert_series_equal(a["complied"], b["complied"], check_names=False)
    np.testing.assert_allclose(a["steer_coef"], b["steer_coef"])
    np.testing.assert_allclose(a["my_score"], b["my_score"])
    assert (a["steer_layer"].fillna(-1) == b["steer_layer"].fillna(-1)).all()
    assert rep.na_labels == {"complied": 3}
    assert b["source"].str.startswith(str(path)).all()


def test_directory_glob_and_skipped_files_are_reported(sim_df, tmp_path):
    afd.write_logs(sim_df.iloc[:20], tmp_path / "a.jsonl")
    afd.write_logs(sim_df.iloc[20:], tmp_path / "sub" / "b.parquet")
    (tmp_path / "README.md").write_text("not a log")
    df, rep = afd.load_logs(tmp_path, return_report=True)
    assert len(df) == len(sim_df)
    assert [s.endswith("README.md") for s in rep.skipped] == [True]
    assert "skipped 1 file" in str(rep)
    assert len(afd.load_logs(str(tmp_path / "*.jsonl"))) == 20
    with pytest.raises(FileNotFoundError):
        afd.load_logs(tmp_path / "nothing-*.jsonl")


def test_unknown_format_error_lists_known_formats(tmp_path):
    p = tmp_path / "x.weird"
    p.write_text("hello")
    with pytest.raises(UnknownFormatError, match="Known formats: .*jsonl"):
        afd.load_logs(p)


def test_csv_and_parquet_with_bad_values_name_row_and_field(sim_df, tmp_path):
    bad = sim_df.astype({"complied": object})
    bad.loc[5, "complied"] = "perhaps"
    p = tmp_path / "x.csv"
    bad.to_csv(p, index=False)
    with pytest.raises(LogFormatError, match=r"x.csv:row 6: field 'complied'"):
        afd.load_logs(p)
    df, rep = afd.load_logs(p, on_error="quarantine", return_report=True)
    assert len(df) == len(sim_df) - 1 and len(rep.bad) == 1


def test_duplicates_kept_first_reported_or_refused(sim_df, tmp_path):
    dup = pd.concat([sim_df, sim_df.iloc[:4]], ignore_index=True)
    dup.loc[len(sim_df), "complied"] = not bool(sim_df.loc[0, "complied"]) if not pd.isna(
        sim_df.loc[0, "complied"]) else True
    p = tmp_path / "d.parquet"
    dup.to_parquet(p)
    with pytest.warns(UserWarning, match="dropped 4 duplicated"):
        df, rep = afd.load_logs(p, return_report=True)
    assert len(df) == len(sim_df) and rep.duplicates == 4 and rep.duplicates_conflicting == 1
    with pytest.raises(SchemaError, match="duplicated"):
        afd.load_logs(p, dedupe=False)
    with pytest.warns(UserWarning):
        _, rep = afd.load_logs(p, on_error="quarantine", quarantine=tmp_path / "q.jsonl", return_report=True)
    lines = (tmp_path / "q.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(x)["field"] == "record_id" for x in lines)


# ----------------------------------------------------------------------------- malformed JSONL
def _without(line: str, key: str) -> str:
    rec = json.loads(line)
    del rec[key]
    return json.dumps(rec)


GOOD = {"model": "m", "condition": "training", "variant": "default", "complied": True}
CORRUPTIONS = {
    "truncate": lambda line, rng: line[: rng.integers(1, len(line) - 1)],
    "wrong_type_label": lambda line, rng: json.dumps({**json.loads(line), "complied": "maybe"}),
    "wrong_type_number": lambda line, rng: json.dumps({**json.loads(line), "steer_coef": "strong"}),
    "fractional_sample": lambda line, rng: json.dumps({**json.loads(line), "sample": 1.5}),
    "bad_condition": lambda line, rng: json.dumps({**json.loads(line), "condition": "enterprise"}),
    "missing_required": lambda line, rng: _without(line, ["model", "variant", "query_id", "condition"][rng.integers(4)]),
    "bad_utf8": lambda line, rng: line.replace('"m"', '"m\udcff"'),
    "not_an_object": lambda line, rng: "[1, 2, 3]",
}


def _write(tmp_path, lines: list[str]):
    p = tmp_path / "log.jsonl"
    with open(p, "wb") as fh:
        for ln in lines:
            fh.write(ln.encode("utf-8", "surrogateescape") + b"\n")
    return p


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(3, 30),
       bad=st.dictionaries(st.integers(0, 29), st.sampled_from(sorted(CORRUPTIONS)), max_size=8),
       dups=st.sets(st.integers(0, 29), max_size=3), seed=st.integers(0, 2**16))
def test_malformed_lines_are_named_or_quarantined_never_dropped(tmp_path, n, bad, dups, seed):
    rng = np.random.default_rng(seed)
    lines = [json.dumps({**GOOD, "query_id": f"q{i}", "sample": i % 3}) for i in range(n)]
    bad = {i: kind for i, kind in bad.items() if i < n}
    for i, kind in bad.items():
        lines[i] = CORRUPTIONS[kind](lines[i], rng)
    dups = sorted(i for i in dups if i < n and i not in bad)
    lines += [lines[i] for i in dups]  # exact duplicates at the end
    p = _write(tmp_path, lines)
    bad_lines = sorted(i + 1 for i in bad)

    if bad_lines:
        with pytest.raises(LogFormatError) as info:
            afd.load_logs(p)
        named = sorted(b.line for b in info.value.bad)
        assert named == bad_lines
        first = info.value.bad[0]
        assert f"log.jsonl:line {first.line}: field '" in str(info.value)
    if len(bad_lines) == n:
        with pytest.raises(LogFormatError):
            afd.load_logs(p, on_error="quarantine")
        return
    q = tmp_path / "q.jsonl"
    with pytest.warns(UserWarning) if (bad_lines or dups) else _no_warning():
        df, rep = afd.load_logs(p, on_error="quarantine", quarantine=q, return_report=True)
    # nothing silently dropped: every line is either a row or a quarantined record
    assert len(df) + len(rep.bad) == len(lines)
    assert rep.duplicates == len(dups)
    if rep.bad:
        recs = [json.loads(x) for x in q.read_text().splitlines()]
        assert sorted(r["line"] for r in recs if r["field"] != "record_id") == bad_lines
        assert all(r["raw"] for r in recs)
    assert set(df["query_id"]) == {f"q{i}" for i in range(n) if i not in bad}


class _no_warning:
    def __enter__(self):
        import warnings
        self._c = warnings.catch_warnings()
        self._c.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._c.__exit__(*exc)


def test_blank_lines_keep_line_numbers(tmp_path):
    lines = [json.dumps({**GOOD, "query_id": "q1"}), "", json.dumps({**GOOD, "query_id": "q2", "complied": 7})]
    p = _write(tmp_path, lines)
    with pytest.raises(LogFormatError, match="line 3: field 'complied'"):
        afd.load_logs(p)


def test_write_logs_refuses_invalid_tables(sim_df, tmp_path):
    with pytest.raises(SchemaError):
        afd.write_logs(sim_df.drop(columns="model"), tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="unknown suffix"):
        afd.write_logs(sim_df, tmp_path / "x.txt")
