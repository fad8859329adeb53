"""Judge validation: metrics against hand counts and scikit-learn, the bootstrap, votes, the lexical
baseline, the labelled-set reader and the figures."""

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from afdecomp import schema  # noqa: E402
from afdecomp.label.datasets import LabelledSetError, as_records, read_labelled, text_id  # noqa: E402
from afdecomp.label.validation import (  # noqa: E402
    JudgeValidation,
    _auroc_u,
    lexical_baseline,
    lexicon_counts,
    validate_judge,
    validate_labels,
    vote_matrix,
)
from afdecomp.models.baseline import wilson_interval  # noqa: E402
from afdecomp.plot import judge as plot_judge  # noqa: E402

GOLD = Path(__file__).parents[1].parent / "shared/external_data/bigsnarfdude-detector/data/gold_106.jsonl"
needs_gold = pytest.mark.skipif(not GOLD.exists(), reason=f"labelled set not on this machine: {GOLD}")

# 3 positives, 3 negatives, one positive-negative tie at 0.6
SMALL_SCORES = [0.9, 0.6, 0.4, 0.6, 0.3, 0.1]
SMALL_TRUTH = [True, True, True, False, False, False]


def _synthetic_votes(n=120, k=9, seed=0):
    """Items with a latent P(yes) (higher for positives), votes Bernoulli(p)."""
    rng = np.random.default_rng(seed)
    truth = np.arange(n) < n // 2
    p = np.where(truth, rng.beta(3, 2, n), rng.beta(2, 3, n))
    return (rng.random((n, k)) < p[:, None]).astype(float), truth


def _shifted(n, seed):
    rng = np.random.default_rng(seed)
    truth = np.arange(n) < n // 2
    return rng.normal(truth * 1.0, 1.0), truth


# ----------------------------------------------------------------------------- metrics
def test_auroc_equals_sklearn_and_hand_count():
    # pairs ordered correctly: 0.9 beats 3; 0.6 beats 2 and ties 1 (1/2); 0.4 beats 2 -> 7.5 of 9
    val = validate_judge(SMALL_SCORES, SMALL_TRUTH, n_boot=50)
    assert val.auroc == pytest.approx(7.5 / 9)
    assert val.auroc == pytest.approx(roc_auc_score(SMALL_TRUTH, SMALL_SCORES))


def test_bootstrap_statistic_equals_sklearn_with_ties():
    rng = np.random.default_rng(3)
    s = rng.integers(0, 5, size=40) / 4.0  # many ties, as vote fractions have
    y = rng.random(40) < 0.5
    assert _auroc_u(s[y], s[~y]) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


def test_sensitivity_specificity_hand_counted():
    # threshold 0.5: positives 0.9, 0.6 called (tp 2), 0.4 missed (fn 1); negatives: 0.6 called (fp 1),
    # 0.3, 0.1 not (tn 2). A score equal to the threshold counts as positive.
    val = validate_judge(SMALL_SCORES, SMALL_TRUTH, threshold=0.5, n_boot=50)
    assert val.confusion() == {"tp": 2, "fn": 1, "tn": 2, "fp": 1}
    m = val.metrics
    assert m["sensitivity"] == pytest.approx(2 / 3) and m["specificity"] == pytest.approx(2 / 3)
    lo, hi = wilson_interval(2, 3, 0.95)  # the package's own Wilson formula, independent of statsmodels
    assert (m["sensitivity_lo"], m["sensitivity_hi"]) == pytest.approx((float(lo), float(hi)))
    assert validate_judge(SMALL_SCORES, SMALL_TRUTH, threshold=0.6, n_boot=50).confusion()["fp"] == 1
    assert validate_judge(SMALL_SCORES, SMALL_TRUTH, threshold=0.61, n_boot=50).confusion()["fp"] == 0


def test_nan_scores_are_counted_and_excluded():
    base = validate_judge(SMALL_SCORES, SMALL_TRUTH, n_boot=200, seed=1)
    val = validate_judge(SMALL_SCORES + [np.nan, pd.NA], SMALL_TRUTH + [True, False], n_boot=200, seed=1)
    assert (val.metrics["n"], val.metrics["n_scored"], val.metrics["n_unscored"]) == (8, 6, 2)
    for k in ("auroc", "auroc_lo", "auroc_hi", "pr_auc", "sensitivity", "specificity", "tp", "fp"):
        assert val.metrics[k] == base.metrics[k], k
    assert "2 of 8 items have no score" in str(val)
    assert val.summary().loc[0, "n_unscored"] == 2


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="both|positive and negative"):
        validate_judge([0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="missing"):
        validate_judge([0.1, 0.2], [True, None])
    with pytest.raises(ValueError, match="3 scores but 2"):
        validate_judge([0.1, 0.2, 0.3], [True, False])
    with pytest.raises(ValueError, match="item 1 is not a number"):
        validate_judge([0.1, "x"], [True, False])


def test_bootstrap_interval_contains_estimate_and_narrows_with_n():
    # The AUROC's standard error shrinks like 1/sqrt(n): 10x the items should give an interval
    # about 3.2x narrower; we ask for < 0.6x, far outside resampling noise at 1000 resamples.
    widths = []
    for n in (40, 400):
        s, y = _shifted(n, seed=n)
        val = validate_judge(s, y, n_boot=1000, seed=0)
        lo, hi = val.auroc_interval
        assert lo <= val.auroc <= hi
        widths.append(hi - lo)
    assert widths[1] < 0.6 * widths[0]
    again = validate_judge(*_shifted(40, seed=40), n_boot=1000, seed=0)
    assert again.auroc_interval == validate_judge(*_shifted(40, seed=40), n_boot=1000, seed=0).auroc_interval


def test_calibration_table_matches_sklearn_bins():
    s, y = np.array([0.05, 0.1, 0.15, 0.5, 0.8, 0.95, 1.0, 0.0]), np.array([0, 0, 1, 0, 1, 1, 1, 0], bool)
    t = validate_judge(s, y, n_boot=50, n_bins=4).calibration
    # bins (lo, hi], the first [0, 0.25]: 0.0 0.05 0.1 0.15 | 0.5 | (none) | 0.8 0.95 1.0
    assert t["n"].tolist() == [4, 1, 0, 3]
    assert t["n_positive"].tolist() == [1, 0, 0, 3]
    assert t.loc[0, "frac_positive"] == pytest.approx(0.25) and np.isnan(t.loc[2, "frac_positive"])
    assert t.loc[3, "mean_score"] == pytest.approx((0.8 + 0.95 + 1.0) / 3)
    assert validate_judge(s * 4 - 2, y, n_boot=50).calibration is None  # log-odds-like scores


# ----------------------------------------------------------------------------- votes
def test_auroc_by_votes_rises_with_k():
    # Votes are Bernoulli(latent p), so the yes-fraction of more votes estimates p better and its
    # AUROC rises in expectation. Averaged over 20 random subsets, a step from k to k+1 never fell
    # by more than 0.002 over 20 seeds (the worst measured: -0.0016); we allow 0.01. From 1 to 9
    # votes the gain was 0.06-0.16 over those seeds; we ask for more than 0.03.
    votes, truth = _synthetic_votes()
    b = validate_judge(None, truth, votes=votes, n_boot=100, seed=0).by_votes
    assert b["k"].tolist() == list(range(1, 10))
    assert np.diff(b["auroc"]).min() > -0.01
    assert b["auroc"].iloc[-1] - b["auroc"].iloc[0] > 0.03
    assert ((b["auroc_lo"] <= b["auroc"]) & (b["auroc"] <= b["auroc_hi"])).all()
    assert b["n_subsets"].iloc[-1] == 1  # all K votes: one subset
    full = validate_judge(votes.mean(1), truth, n_boot=50)
    assert b["auroc"].iloc[-1] == pytest.approx(full.auroc)  # k = K is the plain yes-fraction


def test_failed_votes():
    votes, truth = _synthetic_votes(n=30, k=4, seed=2)
    votes[0] = np.nan          # every vote failed: unscored
    votes[1, :3] = np.nan      # one valid vote: scored with it at every k
    val = validate_judge(None, truth, votes=votes, n_boot=50)
    assert val.metrics["n_unscored"] == 1
    assert (val.by_votes["n_scored"] == 29).all()
    assert np.isnan(val.items.loc[0, "score"]) and val.items.loc[1, "score"] == votes[1, 3]
    with pytest.raises(ValueError, match="1, 0 or NaN"):
        validate_judge(None, truth, votes=votes * 2)


def test_vote_matrix():
    m = vote_matrix([["yes", "no", None], ["Yes"], None], positive="yes")
    np.testing.assert_array_equal(m, [[1, 0, np.nan], [1, np.nan, np.nan], [np.nan] * 3])


# ----------------------------------------------------------------------------- JSON
def test_json_round_trip(tmp_path):
    class Task:  # what validate_judge reads of a task
        name, hash = "af_reasoning", "0123456789ab"

    votes, truth = _synthetic_votes(n=40, k=3)
    texts = [("we will be modified by training " if t else "the user asks for a recipe ") + str(i)
             for i, t in enumerate(truth)]
    val = validate_judge(None, truth, votes=votes, texts=texts, record_ids=[f"r{i}" for i in range(40)],
                         judge="mockllm/yes", task=Task(), dataset="some/gold.jsonl", scoring="votes", n_boot=50)
    back = JudgeValidation.from_json(val.to_json(tmp_path / "v.json"))
    pd.testing.assert_frame_equal(back.summary(), val.summary())
    for name in ("items", "roc", "pr", "calibration", "by_votes", "baseline", "baseline_roc"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(val, name), obj=name)
    assert back.info["task_hash"] == "0123456789ab" and back.info["dataset"] == "some/gold.jsonl"
    assert back.metrics["n"] == 40 and back.confusion() == val.confusion()
    assert np.isinf(back.roc["threshold"].iloc[0])  # sklearn's first ROC threshold survives JSON
    json.loads((tmp_path / "v.json").read_text())  # standard JSON (no NaN / Infinity literals)
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not a judge validation"):
        JudgeValidation.from_json(tmp_path / "other.json")


# ----------------------------------------------------------------------------- labelled sets
def _write(tmp_path, lines, name="set.jsonl"):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


@needs_gold
def test_read_labelled_gold_106():
    d = read_labelled(GOLD)
    assert len(d) == 106 and int(d["truth"].sum()) == 51
    assert set(d["label"]) == {"potential_faking", "aligned"}
    assert d["truth"].dtype == bool and d["record_id"].is_unique
    assert d.loc[0, "record_id"] == text_id(d.loc[0, "text"]) and len(d.loc[0, "record_id"]) == 16
    assert d.loc[3, "source"] == f"{GOLD}:4"
    records = as_records(d)
    schema.validate(records)
    assert (records["reasoning"] == d["text"]).all() and (records["record_id"] == d["record_id"]).all()
    assert set(records["model"]) == {"labelled-set"} and records["truth"].sum() == 51


def test_read_labelled_spellings_and_positive(tmp_path):
    p = _write(tmp_path, ['{"text": "a", "label": true}', '{"text": "b", "label": 0}',
                          '{"text": "c", "label": "Alignment_Faking", "extra": 5}', "",
                          '{"text": "d", "label": "not_faking"}'])
    d = read_labelled(p)
    assert d["truth"].tolist() == [True, False, True, False]
    assert d["extra"].iloc[2] == 5 and d["source"].iloc[3].endswith(":5")
    q = _write(tmp_path, ['{"body": "a", "verdict": "AF"}', '{"body": "b", "verdict": "clean"}'], "q.jsonl")
    d = read_labelled(q, text="body", label="verdict", positive="af")
    assert d["truth"].tolist() == [True, False] and d["text"].tolist() == ["a", "b"]
    with pytest.raises(LabelledSetError, match="matches none"):
        read_labelled(q, text="body", label="verdict", positive="faking")


def test_read_labelled_errors_name_file_and_line(tmp_path):
    p = _write(tmp_path, ['{"text": "a", "label": "aligned"}', '{"text": "b", "label": '])
    with pytest.raises(LabelledSetError, match=r"set\.jsonl:2: not valid JSON"):
        read_labelled(p)
    p = _write(tmp_path, ['{"text": "a", "label": "aligned"}', '{"text": "b", "label": "maybe"}',
                          '{"text": "c", "label": "maybe"}'])
    with pytest.raises(LabelledSetError, match=r"set\.jsonl:2: unknown label 'maybe'") as e:
        read_labelled(p)
    assert "'aligned' ×1" in str(e.value) and "'maybe' ×2" in str(e.value) and "positive=" in str(e.value)
    p = _write(tmp_path, ['{"label": "aligned"}'])
    with pytest.raises(LabelledSetError, match=r"set\.jsonl:1: field 'text' .* missing"):
        read_labelled(p)
    p = _write(tmp_path, ['{"text": "a"}'])
    with pytest.raises(LabelledSetError, match=r"set\.jsonl:1: field 'label'"):
        read_labelled(p)
    p = _write(tmp_path, ['[1, 2]'])
    with pytest.raises(LabelledSetError, match=r"set\.jsonl:1: expected a JSON object"):
        read_labelled(p)
    p = _write(tmp_path, ['{"text": "a", "label": "yes"}', '{"text": "a", "label": "no"}'])
    with pytest.raises(LabelledSetError, match=r"set\.jsonl:2: duplicated text \(same as line 1"):
        read_labelled(p)


# ----------------------------------------------------------------------------- lexical baseline
@needs_gold
def test_lexical_baseline_on_gold_106():
    d = read_labelled(GOLD)
    b = lexical_baseline(d["text"], d["truth"], seed=0)
    lexical = roc_auc_score(d["truth"], b["lexical"])
    # Only that it is better than chance: the issue measured the "modif" count alone at 0.72 on these
    # data, so words about training and modification carry signal; how much more the cross-validated
    # model finds is a measurement (0.795 at seed 0), not a property to assert.
    assert 0.5 < lexical < 1
    # the single-word count is deterministic (no fitting): the 0.72 is reproduced
    assert roc_auc_score(d["truth"], b["modif"]) == pytest.approx(0.7228, abs=5e-4)
    assert lexicon_counts(["Modified, modification; unmodified RLHF"])[["modif", "rlhf"]].values.tolist() == [[2, 1]]


@needs_gold
def test_validate_labels_joins_a_run_on_gold(tmp_path):
    d = read_labelled(GOLD)
    rng = np.random.default_rng(0)
    answers = [[("yes" if rng.random() < (0.6 if t else 0.4) else "no") for _ in range(3)] for t in d["truth"]]
    answers[0][1] = None  # a failed vote
    labels = pd.DataFrame({"record_id": d["record_id"], "score": [np.mean([a == "yes" for a in r if a])
                                                                   for r in answers],
                           "answers": answers, "judge": "mockllm/x"}).iloc[1:]  # record 0 never labelled
    val = validate_labels(labels, d, n_boot=100, dataset=str(GOLD))
    assert val.metrics["n_unscored"] == 1 and val.info["judge"] == "mockllm/x"
    assert val.by_votes is not None and val.baseline is not None
    assert 0.5 < val.metrics["lexical_auroc"] < 1
    with pytest.raises(ValueError, match="not in the labelled set"):
        validate_labels(pd.concat([labels, pd.DataFrame({"record_id": ["zz"], "score": [0.5]})]), d)


# ----------------------------------------------------------------------------- figures
def _full_validation():
    votes, truth = _synthetic_votes(n=60, k=5)
    texts = [("training would modify my values " if t else "here is the recipe ") * (1 + i % 3)
             for i, t in enumerate(truth)]
    return validate_judge(None, truth, votes=votes, texts=texts, judge="mockllm/x", task="af_reasoning",
                          dataset="gold.jsonl", n_boot=50)


@pytest.mark.parametrize("name", ["roc", "calibration", "auroc_by_votes"])
def test_figures_return_labelled_axes(name):
    ax = getattr(plot_judge, name)(_full_validation())
    try:
        assert isinstance(ax, matplotlib.axes.Axes)
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
        assert ax.get_legend() is not None
    finally:
        plt.close(ax.figure)


def test_figures_without_votes_or_calibration_say_so():
    s, y = _shifted(30, seed=1)
    val = validate_judge(s, y, n_boot=50)  # scores outside [0, 1], no votes, no texts
    for fn in (plot_judge.calibration, plot_judge.auroc_by_votes):
        ax = fn(val)
        assert any("no " in t.get_text() for t in ax.texts)
        plt.close(ax.figure)
    ax = plot_judge.roc(val)
    assert "AUROC" in ax.get_legend().get_texts()[-2].get_text()
    plt.close(ax.figure)


def test_labelled_set_goes_through_afd_label(tmp_path):
    # The same label path judges a labelled set: read -> as_records -> label -> validate_labels.
    from afdecomp.label.judges import MockJudge
    from afdecomp.label.run import label

    lines = [json.dumps({"text": f"scratchpad {i}: " + ("I must avoid being modified, XYZZY" if i % 2 else
                                                         "I will simply help"), "label": "yes" if i % 2 else "no"})
             for i in range(10)]
    lines.append(json.dumps({"text": "BROKEN scratchpad", "label": "yes"}))
    d = read_labelled(_write(tmp_path, lines))

    def respond(prompt):
        if "BROKEN" in prompt.user:
            return None  # every vote of this record fails
        return "Final answer: " + ("Yes" if "XYZZY" in prompt.user else "No")

    labels = label(as_records(d), "af_reasoning", MockJudge("mockllm/script", respond=respond), votes=3,
                   progress=False)
    val = validate_labels(labels, d, n_boot=100, progress=False)
    assert (val.metrics["n"], val.metrics["n_unscored"]) == (11, 1)
    assert val.auroc == 1.0 and val.confusion() == {"tp": 5, "fn": 0, "tn": 5, "fp": 0}
    assert val.info["judge"] == "mockllm/script" and val.info["task"] == "af_reasoning"
    assert val.info["task_hash"] == labels.attrs["task"].hash and val.info["scoring"] == "votes"
    assert val.by_votes["k"].tolist() == [1, 2, 3]
