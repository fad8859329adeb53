"""Transcript browser: every generation's query, reasoning and output with its labels, judge
scores and votes, as a static page to open from disk or publish next to a paper.

Reads a log (any format afd.load_logs reads; default: the bundled example, which is synthetic
and carries no text, so the page says so per record), applies the labels held in vote stores
(--labels, repeatable; their individual votes are shown per record), and writes OUT/index.html
with its data files (afd.report.write_transcripts). Records are grouped by model × scenario ×
prompt variant × steering × tier and shown in a seeded random order within each group; the
page filters by each of those and by label, searches the text, and pages 50 at a time. Its
state is in the URL, e.g. OUT/index.html#model=NAME&condition=training&af_reasoning=yes.

Example: python reports/transcripts.py --data runs/study.jsonl --labels labels.jsonl \\
             --out reports/out/transcripts
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from _common import REPO, need

import afdecomp as afd

NAME = "transcripts"
DATA = REPO / "data" / "example" / "example.parquet"


def main(argv: list[str] | None = None) -> int:
    doc = __doc__.strip()
    p = argparse.ArgumentParser(prog=f"python reports/{NAME}.py", description=doc.splitlines()[0],
                                epilog=doc.split("\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DATA, help=f"log file or folder (default: {DATA})")
    p.add_argument("--out", type=Path, default=REPO / "reports" / "out" / NAME, help="output folder")
    p.add_argument("--labels", type=Path, action="append", default=[], metavar="STORE",
                   help="vote store from `afdecomp label`: apply its labels and show its votes (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random order within each group (default 0)")
    p.add_argument("--per-cell", type=int, default=None,
                   help="at most this many records per model × scenario × variant × steering × tier (default: all)")
    p.add_argument("--title", default=None, help="page title (default: Transcripts: <data name>)")
    args = p.parse_args(argv)

    data = need(args.data, "the log to browse")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the load report says it once
        df, rep = afd.load_logs(data, return_report=True)
    print(f"read {data}: {len(df):,} generations, {df['model'].nunique()} model(s), "
          f"{df['variant'].nunique()} prompt variant(s)")
    text = [c for c in ("query", "reasoning", "response") if c in df.columns and df[c].notna().any()]
    print("text columns: " + (", ".join(f"{c} ({int(df[c].notna().sum()):,} records)" for c in text)
                              if text else "none (e.g. a simulated study): the page shows conditions and labels only"))
    from afdecomp.label.store import VoteStore
    for store in args.labels:
        with VoteStore(need(store, "the vote store"), readonly=True) as vs:
            held = vs.holdings()
        for g in held.itertuples():
            df = afd.apply_labels(df, store, task=g.task, judge=g.judge, scoring=g.scoring)
            print(f"applied {g.task} from {store} (judge {g.judge}, {g.scoring}): {g.records:,} records, "
                  f"{g.votes:,} votes")
    page = afd.report.write_transcripts(df, args.out, stores=args.labels or None, seed=args.seed,
                                        per_cell=args.per_cell, title=args.title or f"Transcripts: {data.name}")
    files = sorted((args.out / "data").iterdir())
    size = sum(f.stat().st_size for f in files) / 1e6
    print(f"wrote {page} and {len(files)} data file(s) in {args.out / 'data'} ({size:.1f} MB)")
    print(f"open it in a browser: {page.resolve().as_uri()}  (no server needed; filters are in the URL, "
          "e.g. #model=NAME&condition=training&complied=yes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
