"""afdecomp.schema: defaults, dtypes, record ids, and every SchemaError case."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from afdecomp import schema
from afdecomp.schema import SchemaError


def test_normalize_fills_documented_defaults(tiny_rows):
    rows = [r for r in tiny_rows if r["sample"] == 0]  # without `sample`, ids must stay unique
    df, problems = schema.normalize(pd.DataFrame(rows).drop(columns="sample"))
    assert not problems
    assert (df["scenario"] == "default").all()
    assert (df["steer_vector"] == "none").all()
    assert df["steer_layer"].isna().all() and df["steer_layer"].dtype == "Int64"
    assert (df["steer_coef"] == 0.0).all()
    assert (df["sample"] == 0).all() and df["sample"].dtype == np.int64
    expected_o = np.where(df["condition"] == "training", 1.0, 0.0)
    np.testing.assert_array_equal(df["oversight"].to_numpy(), expected_o)
    assert df["complied"].dtype == "boolean" and df["complied"].isna().sum() == 1
    assert list(df["condition"].cat.categories) == ["training", "deployment"]
    assert df["record_id"].is_unique
    schema.validate(df)


def test_normalize_keeps_given_oversight_and_extra_columns(tiny_rows):
    rows = [dict(r, oversight=0.25, my_extra={"a": 1}) for r in tiny_rows]
    df, _ = schema.normalize(pd.DataFrame(rows))
    assert (df["oversight"] == 0.25).all()
    assert df["my_extra"].iloc[0] == {"a": 1}


def test_record_ids_depend_on_values_not_dtypes(tiny_df):
    ids = schema.record_ids(tiny_df)
    as_text = tiny_df.astype({c: str for c in ("model", "variant", "condition", "scenario", "steer_vector")})
    as_text["sample"] = as_text["sample"].astype(float)
    assert (schema.record_ids(as_text) == ids).all()
    assert (schema.record_ids(tiny_df.iloc[::-1]) == ids.iloc[::-1]).all()
    changed = tiny_df.copy()
    changed.loc[0, "steer_coef"] = 0.5
    assert schema.record_ids(changed).iloc[0] != ids.iloc[0]
    assert (schema.record_ids(changed).iloc[1:] == ids.iloc[1:]).all()


def test_valid_table_passes(tiny_df):
    assert schema.validate(tiny_df) is tiny_df


def _problem_columns(err: SchemaError) -> set[str]:
    return {p.column for p in err.problems}


@pytest.mark.parametrize(
    "mutate, column, words",
    [
        (lambda d: d.drop(columns=["model"]), "model", "missing"),
        (lambda d: d.drop(columns=["query_id", "variant"]), "variant,query_id", "missing"),
        (lambda d: d.assign(model=d["model"].cat.add_categories([]).where(d.index != 0)), "model", "required"),
        (lambda d: d.assign(query_id=d["query_id"].where(d.index != 1, "")), "query_id", "required"),
        (lambda d: d.assign(complied=d["complied"].astype(object)), "complied", "dtype"),
        (lambda d: d.assign(steer_coef=d["steer_coef"].astype(str)), "steer_coef", "dtype"),
        (lambda d: d.assign(condition=d["condition"].cat.add_categories(["unmonitored"])
                            .where(d.index != 2, "unmonitored")), "condition", "not one of"),
        (lambda d: d.assign(oversight=d["oversight"].where(d.index != 0, 1.5)), "oversight", "outside"),
        (lambda d: d.assign(oversight=d["oversight"].where(d.index != 0, np.nan)), "oversight", "outside"),
        (lambda d: d.assign(compliance_score=np.where(d.index == 0, -1.0, 0.5)), "compliance_score", "outside"),
        (lambda d: d.assign(af_score=np.where(d.index == 0, 2.0, 0.0)), "af_score", "outside"),
        (lambda d: d.assign(steer_coef=np.where(d.index == 0, np.inf, 0.0)), "steer_coef", "non-finite"),
        (lambda d: d.assign(sample=np.where(d.index == 0, -1, 0)), "sample", "negative"),
        (lambda d: d.assign(steer_coef=np.where(d.index == 0, 1.0, 0.0)), "steer_coef", "'none'"),
        (lambda d: d.assign(record_id=d["record_id"].where(d.index != 1, d["record_id"].iloc[0])),
         "record_id", "duplicated"),
    ],
)
def test_every_schema_error_case(tiny_df, mutate, column, words):
    with pytest.raises(SchemaError) as info:
        schema.validate(mutate(tiny_df))
    err = info.value
    assert column in _problem_columns(err), str(err)
    msg = str(err)
    assert words in msg and column.split(",")[0] in msg


def test_schema_error_lists_every_problem_with_counts_and_examples(tiny_df):
    bad = tiny_df.assign(
        oversight=np.where(tiny_df.index < 2, 3.0, 0.0),
        sample=np.where(tiny_df.index == 5, -2, 0),
        af_score=np.where(tiny_df.index == 0, 9.0, np.nan),
    ).drop(columns=["variant"])
    with pytest.raises(SchemaError) as info:
        schema.validate(bad)
    cols = _problem_columns(info.value)
    assert {"variant", "oversight", "sample", "af_score"} <= cols
    over = next(p for p in info.value.problems if p.column == "oversight")
    assert over.count == 2 and len(over.examples) == 2 and "row 0" in over.examples[0]
    assert "2 rows" in str(info.value)


def test_normalize_reports_wrong_types_without_dropping_rows(tiny_rows):
    rows = [dict(r) for r in tiny_rows]
    rows[0]["complied"] = "maybe"
    rows[1]["steer_coef"] = "strong"
    rows[2]["sample"] = 1.5
    rows[3]["complied"] = "TRUE"
    df, problems = schema.normalize(pd.DataFrame(rows))
    assert len(df) == len(rows)
    by_col = {p.column: p for p in problems}
    assert set(by_col) == {"complied", "steer_coef", "sample"}
    assert list(by_col["complied"].rows) == [0]
    assert df["complied"].iloc[3] is np.True_ or df["complied"].iloc[3] == True  # noqa: E712


def test_a_hand_built_table_writes_and_reads_back(tmp_path):
    """A notebook table (model, condition, variant, query_id, complied), with several generations
    per prompt and no `sample` column, writes and reads back; a missing column is one clear error."""
    import afdecomp as afd
    df = pd.DataFrame({"model": ["m"] * 6, "condition": ["training", "training", "deployment"] * 2,
                       "variant": "default", "query_id": ["q1"] * 3 + ["q2"] * 3,
                       "complied": [True, False, False, True, True, False]})
    out = afd.write_logs(df, tmp_path / "hand.parquet")
    back = afd.load_logs(out)
    assert len(back) == 6 and back["record_id"].is_unique
    assert sorted(back.loc[back["query_id"] == "q1", "sample"]) == [0, 0, 1]
    with pytest.raises(afd.SchemaError, match="query_id: required column is missing"):
        afd.write_logs(df.drop(columns="query_id"), tmp_path / "bad.parquet")
