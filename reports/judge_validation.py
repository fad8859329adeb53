"""ROC and calibration of a judge against human labels (default: the gold_106 scratchpads).

gold_106 (bigsnarfdude/detector) holds 106 reasoning scratchpads labelled by people as
``potential_faking`` (51) or ``aligned`` (55). A judge's score per item is validated with
afd.validate_judge: AUROC with a stratified-bootstrap interval, sensitivity and specificity at
the threshold, a calibration table, next to two lexical baselines that need no model.

Default scores: the lexical baseline itself (a cross-validated logistic regression on counts of
15 training/modification words; no model needed), so the script runs anywhere. Pass a judge's
scores with --scores FILE: a CSV or JSONL file with ``record_id`` (as afd.read_labelled gives it:
a hash of the text, see afdecomp.label.datasets.text_id) or ``text``, and ``score`` (P(yes),
the yes-fraction of votes, or 0/1). Items without a score are unscored and left out of every
metric (counted).

Example: python reports/judge_validation.py --scores runs/val/scores.csv --judge "gpt-4o, 20 votes"
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from _common import EXTERNAL, Output, need, parser

import afdecomp as afd
from afdecomp.label.datasets import text_id
from afdecomp.label.validation import lexical_baseline

NAME = "judge_validation"
DATA = EXTERNAL / "bigsnarfdude-detector" / "data" / "gold_106.jsonl"


def read_scores(path: Path, gold: pd.DataFrame) -> np.ndarray:
    """One score per gold item from a CSV/JSONL file keyed by ``record_id`` or ``text``."""
    t = pd.read_json(path, lines=True) if path.suffix.lower() in (".jsonl", ".json") else pd.read_csv(path)
    if "score" not in t.columns:
        raise ValueError(f"{path}: needs a 'score' column; found {list(t.columns)}")
    if "record_id" not in t.columns:
        if "text" not in t.columns:
            raise ValueError(f"{path}: needs 'record_id' or 'text' to match the labelled items; found {list(t.columns)}")
        t["record_id"] = [text_id(str(x)) for x in t["text"]]
    t["record_id"] = t["record_id"].astype(str)
    dup = t["record_id"][t["record_id"].duplicated()]
    if len(dup):
        raise ValueError(f"{path}: {len(dup)} duplicate record_id(s), e.g. {dup.iloc[0]!r} (line {dup.index[0] + 2})")
    unknown = sorted(set(t["record_id"]) - set(gold["record_id"].astype(str)))
    if unknown:
        raise ValueError(f"{path}: {len(unknown)} record_id(s) are not in the labelled set, e.g. {unknown[0]!r}")
    s = pd.to_numeric(t.set_index("record_id")["score"], errors="coerce")
    bad = t["score"].notna() & s.reindex(t["record_id"]).isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{path}: row {i + 1}: score {t['score'].iloc[i]!r} is not a number")
    return s.reindex(gold["record_id"].astype(str)).to_numpy(dtype=float)


def main(argv=None) -> int:
    ap = parser(NAME, __doc__, DATA)
    ap.add_argument("--scores", type=Path, default=None, help="a judge's scores (CSV/JSONL: record_id or text, score)")
    ap.add_argument("--judge", default=None, help="the judge's name for titles and tables")
    ap.add_argument("--threshold", type=float, default=0.5, help="score at which an item is called positive")
    ap.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples of the AUROC interval")
    args = ap.parse_args(argv)
    with afd.plot.style(columns=args.columns):
        return run(args)


def run(args) -> int:
    data = need(args.data, "a labelled JSONL set (gold_106.jsonl)")
    out = Output(args.out, args.dpi)
    gold = afd.read_labelled(data)
    print(f"read {data}: {len(gold)} labelled texts ({int(gold['truth'].sum())} positive: "
          f"{sorted(gold.loc[gold['truth'], 'label'].unique())}; {int((~gold['truth']).sum())} negative)")
    if args.scores is not None:
        scores = read_scores(need(args.scores, "the judge's scores"), gold)
        judge = args.judge or args.scores.stem
        print(f"read {args.scores}: {int(np.isfinite(scores).sum())} of {len(gold)} items scored")
    else:
        scores = lexical_baseline(gold["text"], gold["truth"])["lexical"].to_numpy()
        judge = args.judge or "lexical baseline"
        print("no --scores: the judge is the lexical baseline (cross-validated logistic regression on 15 word counts)")
    val = afd.validate_judge(scores, gold["truth"], texts=gold["text"], record_ids=gold["record_id"], judge=judge,
                             task="af_reasoning", dataset=data, threshold=args.threshold, n_boot=args.n_boot,
                             progress=False)
    print(str(val))
    out.table("metrics", val.summary(), "AUROC, PR-AUC, sensitivity, specificity with intervals")
    out.table("roc", val.roc, "the judge's ROC curve")
    if val.baseline_roc is not None:
        out.table("roc_baselines", val.baseline_roc, "the lexical baselines' ROC curves")
    if val.calibration is not None:
        out.table("calibration", val.calibration, "fraction positive per score bin, Wilson intervals")
    pct = f"{val.info['ci_prob']:.0%}"
    same = (" Here the judge is the lexical baseline itself (no --scores given), so its curve lies on the dashed "
            "baseline curve." if args.scores is None else "")
    out.figure("roc", afd.plot.roc(val).figure, f"ROC of the {judge} on {Path(data).name}",
               f"ROC curve of the judge against the human labels (solid), with AUROC and its {pct} stratified-bootstrap "
               f"interval ({args.n_boot} resamples, positives and negatives resampled separately) in the legend; dashed: "
               "a cross-validated logistic regression on counts of 15 training/modification words; dotted: the count "
               "of words starting with 'modif' (no fitting); open circle: sensitivity and specificity at threshold "
               f"{args.threshold:g}. A judge is worth its cost only where it beats the dashed curve." + same, table="roc")
    out.figure("calibration", afd.plot.calibration(val).figure, f"Calibration of the {judge} on {Path(data).name}",
               f"Reliability diagram: fraction of items labelled positive by people per score bin, plotted at the bin's "
               f"mean score, with {pct} Wilson intervals; grey bars: items per bin (right axis). Points on the dashed "
               "diagonal mean the score can be read as a probability.", table="calibration")
    out.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
