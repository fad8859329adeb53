"""Format detection on every real file in ../shared/external_data: each goes to the right reader."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from afdecomp.ingest._base import UnknownFormatError, detect

EXTERNAL = Path(__file__).resolve().parents[1].parent / "shared" / "external_data"


def test_every_real_file_is_detected_as_its_format():
    seen = Counter()
    for f in sorted(EXTERNAL.rglob("*")):
        if not f.is_file() or f.suffix not in (".json", ".jsonl", ".csv"):
            continue
        try:
            name = detect(f).name
        except UnknownFormatError:
            name = "unknown"
        seen[(str(f.parent.relative_to(EXTERNAL)), name)] += 1
    vlaf = "launchnlp-VLAF/results/MFT_refined/"
    assert seen == Counter({
        **{(vlaf + v, "vlaf"): 24 for v in ("authority", "care", "fairness", "loyalty", "sanctity")},
        (vlaf + "care", "vlaf-summary"): 1,
        ("launchnlp-VLAF/results/MFT", "vlaf-survey"): 14,
        ("launchnlp-VLAF/data/redwood_helpful/helpful_only", "redwood"): 6,
        ("Aristo240-alignment_causal_audit/results", "paired"): 1,
        # not generation logs: query sets and published summary tables
        ("launchnlp-VLAF/data", "unknown"): 6,
        ("launchnlp-VLAF/data/mft_refined", "unknown"): 10,
        ("launchnlp-VLAF/data", "csv"): 1,
        ("Aristo240-alignment_causal_audit/results", "summary"): 1,  # statistics_descriptive.csv
        ("bigsnarfdude-detector/data", "jsonl"): 1,
    })
