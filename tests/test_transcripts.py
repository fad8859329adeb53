"""The transcript browser (afdecomp.report.transcripts) in headless Chromium: it opens on the
bundled example (no text) and on a labelled log with real text (VLAF, judged through a vote
store), filters narrow the list to exactly the rows pandas selects, search finds what pandas
finds, markup in a transcript shows as text and never runs, and 50,000 records page quickly.

The page is driven through its URL hash (``#model=...&condition=...``, the links the report's
figures carry) and read with ``--dump-dom`` after the page's scripts have run.
"""

from __future__ import annotations

import html
import re
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from afdecomp.report.transcripts import Links, browse_href, write_transcripts

from ._chromium import CHROMIUM, Browser, dump
from .conftest import EXTERNAL, ROOT

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium (/usr/bin/chromium) is not installed; "
                                    "scripts/test.sh installs it (apt-get install chromium)")
VLAF_CARE = EXTERNAL / "launchnlp-VLAF" / "results" / "MFT_refined" / "care"
PAYLOADS = ('<script>window.__pwned=1;document.title="PWNED";document.body.setAttribute("data-pwned","1")</script>',
            '<img src=x onerror="window.__pwned=1;document.title=\'PWNED\';document.body.setAttribute(\'data-pwned\',\'1\')">')
EVIL_MODEL = "<img src=x onerror=\"window.__pwned=1;document.body.setAttribute('data-pwned','1')\">"


def attr(dom: str, name: str) -> str | None:
    m = re.search(rf'<body[^>]*\s{name}="([^"]*)"', dom)
    return m.group(1) if m else None


def articles(dom: str) -> list[str]:
    return re.findall(r'<article class="rec".*?</article>', dom, flags=re.S)


def texts(article: str) -> list[str]:
    """The transcript texts of one record as the reader sees them (entities decoded)."""
    return [html.unescape(t) for t in re.findall(r'<pre class="text">(.*?)</pre>', article, flags=re.S)]


def ready(dom: str) -> None:
    assert attr(dom, "data-state") == "ready", re.search(r'<p id="status"[^>]*>(.*?)</p>', dom).group(1)


# ----------------------------------------------------------------------------- no browser needed
def test_missing_columns_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"lacks the required column\(s\) \['variant', 'condition'\]"):
        write_transcripts(pd.DataFrame({"model": ["m"], "response": ["hi"]}), tmp_path)
    with pytest.raises(TypeError, match="pandas DataFrame"):
        write_transcripts([{"model": "m"}], tmp_path)


def _plain(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"model": rng.choice(["a", "b"], n), "variant": rng.choice(["default", "cut"], n),
                         "condition": rng.choice(["training", "deployment"], n), "query_id": [f"q{i}" for i in range(n)],
                         "complied": rng.random(n) < 0.5, "response": [f"text {i}" for i in range(n)]})


def _meta(out: Path) -> dict:
    import json
    s = (out / "data" / "meta.js").read_text(encoding="utf-8")
    return json.loads(s[s.index("=") + 1:].rstrip().rstrip(";"))


def test_groups_are_contiguous_and_shuffled_by_seed(tmp_path):
    df = _plain()
    write_transcripts(df, tmp_path / "s0", seed=0, chunk_bytes=500)
    write_transcripts(df, tmp_path / "s0b", seed=0, chunk_bytes=500)
    write_transcripts(df, tmp_path / "s1", seed=1, chunk_bytes=500)
    m0, m0b, m1 = (_meta(tmp_path / d) for d in ("s0", "s0b", "s1"))
    assert m0["rid"] == m0b["rid"] and m0["rid"] != m1["rid"]  # the seed decides the order
    assert sorted(m0["rid"]) == sorted(m1["rid"]) and len(set(m0["rid"])) == len(df)  # every record once
    # groups tile the records in the browser's order: model, then variant (default first), tier (training first)
    starts = [g[-2] for g in m0["groups"]]
    assert starts == list(np.cumsum([0] + [g[-1] for g in m0["groups"]])[:-1])
    names = [(m0["values"]["model"][g[0]], m0["values"]["variant"][g[2]], m0["values"]["condition"][g[4]])
             for g in m0["groups"]]
    assert names == sorted(names, key=lambda t: (t[0], t[1] != "default", t[1], t[2] != "training"))
    counts = df.groupby(["model", "variant", "condition"]).size()
    assert {n: g[-1] for n, g in zip(names, m0["groups"], strict=True)} == counts.to_dict()
    # within a group the order is not the table's (a shuffle), and chunks cover every record
    assert sum(c for _, c in m0["chunks"]) == len(df) and len(m0["chunks"]) > 1
    assert len(list((tmp_path / "s0" / "data").glob("chunk-*.js"))) == len(m0["chunks"])
    capped = _meta(Path(write_transcripts(df, tmp_path / "cap", per_cell=10)).parent)
    assert capped["n"] == 10 * len(counts) and all(g[-1] == 10 for g in capped["groups"])


def test_links_follow_the_figure_rows():
    df = _plain()
    links = Links(df)
    t = links.table({"by": ("model", "variant"), "where": {"steer": "none"}})
    assert t["header"] == ["model · variant", "all", "training", "deployment"]
    row = next(r for r in t["rows"] if r["label"] == "a · cut")
    n = int(((df["model"] == "a") & (df["variant"] == "cut") & (df["condition"] == "training")).sum())
    assert row["cells"][1] == {"text": "training", "n": n,
                              "href": "transcripts/index.html#steer=none&model=a&variant=cut&condition=training"}
    assert browse_href({"steer": "values L16 α=+2"}) == "transcripts/index.html#steer=values%20L16%20%CE%B1%3D%2B2"
    with pytest.raises(ValueError, match="unknown transcript filter"):
        browse_href({"colour": "red"})


def test_image_map_bands_cover_each_row_of_the_png(tmp_path):
    import matplotlib.pyplot as plt
    df = pd.DataFrame({"model": ["m1", "m2", "m3"] * 2, "variant": "default",
                       "condition": ["training"] * 3 + ["deployment"] * 3})
    fig, (a, b) = plt.subplots(1, 2, sharey=True, figsize=(6, 2.5))  # two panels sharing the model rows
    a.errorbar([0.2, 0.5, 0.7], [0, 1, 2], fmt="o")
    b.errorbar([0.1, 0.3, 0.2], [0, 1, 2], fmt="o")
    a.set_yticks(np.arange(3), ["m1", "m2", "m3"])
    a.invert_yaxis()
    png = tmp_path / "f.png"
    fig.savefig(png, dpi=150, bbox_inches="tight")
    areas = Links(df).image_map(fig, {"by": ("model",), "split_tiers": ("training", "deployment")}, dpi=150, png=png)
    assert [x["title"] for x in areas] == [f"transcripts of m{i}, {t}" for i in (1, 2, 3) for t in ("training", "deployment")]
    assert areas[2]["href"] == "transcripts/index.html#model=m2&condition=training"
    boxes = np.array([x["box"] for x in areas])  # left, top, width, height in % of the PNG
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 100).all() and (boxes[:, 1] + boxes[:, 3] <= 100).all()
    assert (boxes[:, 0] < 5).all() and (boxes[:, 0] + boxes[:, 2] > 90).all()  # from the tick label across both panels
    np.testing.assert_allclose(boxes[1:, 1], boxes[:-1, 1] + boxes[:-1, 3], atol=0.02)  # bands tile the rows, top down
    # the band of m2 holds m2's row: its tick's height in the PNG lies between its two tier bands
    w, h = plt.imread(png).shape[1::-1]
    tight = fig.get_tightbbox(fig.canvas.get_renderer()).padded(plt.rcParams["savefig.pad_inches"])
    y_png = (tight.y1 - a.transData.transform((0, 1))[1] / fig.dpi) * 150 / h * 100
    assert abs(y_png - (boxes[2, 1] + boxes[2, 3])) < 0.5
    fig.savefig(tmp_path / "other.png", dpi=100, bbox_inches="tight")  # a PNG of another size: no areas
    assert Links(df).image_map(fig, {"by": ("model",)}, dpi=150, png=tmp_path / "other.png") == []
    plt.close(fig)


# ----------------------------------------------------------------------------- in Chromium
@pytest.fixture(scope="module")
def example_browser(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    df = pd.read_parquet(ROOT / "data" / "example" / "example.parquet")
    return write_transcripts(df, tmp_path_factory.mktemp("example")), df


@needs_chromium
def test_example_opens_and_says_there_is_no_text(example_browser):
    page, df = example_browser
    dom, _ = dump(page)
    ready(dom)
    assert attr(dom, "data-matches") == f"{len(df)}" and attr(dom, "data-shown") == "50"
    assert "These records carry no text" in dom
    recs = articles(dom)
    assert len(recs) == 50
    assert all("no output recorded" in a and "no reasoning recorded" in a for a in recs)


@needs_chromium
def test_example_filter_narrows_to_what_pandas_selects(example_browser):
    page, df = example_browser
    want = df[(df["model"] == "model-02") & (df["condition"] == "training") & (df["steer_vector"] == "none")
              & (df["variant"] == "cut-provenance") & df["complied"].fillna(False).astype(bool)]
    dom, _ = dump(page, "model=model-02&condition=training&steer=none&variant=cut-provenance&complied=yes&page=2")
    ready(dom)
    assert attr(dom, "data-matches") == str(len(want)) and 50 < len(want) < len(df) / 100
    assert attr(dom, "data-page") == "2"
    recs = articles(dom)
    assert len(recs) == min(50, len(want) - 50)
    for a in recs:
        assert "model: model-02" in a and "tier: training" in a and "prompt variant: cut-provenance" in a
        assert '<span class="badge yes">complied: yes</span>' in a
    shown = {re.search(r'href="#id=([0-9a-f]+)"', a).group(1) for a in recs}
    assert shown <= set(want["record_id"])


@pytest.fixture(scope="module")
def labelled_log(tmp_path_factory):
    """Two VLAF models on the `care` value (real text, the study's compliance labels), with
    ``af_reasoning`` judged through a vote store (a scripted judge: Yes when the reasoning
    mentions training) and applied with apply_labels; plus two records holding script payloads."""
    if not VLAF_CARE.is_dir():
        pytest.skip(f"the real VLAF data is not at {VLAF_CARE}")
    import afdecomp as afd
    from afdecomp.label.judges import MockJudge
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = afd.load_logs(VLAF_CARE)
    df = df[df["model"].astype(str).isin(["Qwen3-8B", "olmo2-7b-instruct"])].copy()
    tmp = tmp_path_factory.mktemp("vlaf")
    store = tmp / "votes.jsonl"
    judge = MockJudge("mockllm/mentions-training",
                      respond=lambda p: "Final answer: " + ("Yes" if "train" in p.user.lower() else "No"))
    labels = afd.label(df, "af_reasoning", judge, votes=3, store=store, progress=False)
    df = afd.apply_labels(df, labels)
    evil = df.iloc[:2].copy()
    evil["record_id"] = ["evil-1", "evil-2"]
    evil["response"], evil["reasoning"], evil["query"] = PAYLOADS, PAYLOADS[::-1], ["</pre><b>x</b>", "<!--"]
    evil["judge"] = PAYLOADS[1]
    evil["model"] = EVIL_MODEL
    df = pd.concat([df, evil], ignore_index=True)
    page = write_transcripts(df, tmp / "browser", stores=[store], title="VLAF care (labelled)")
    return page, df, store


@needs_chromium
def test_labelled_log_shows_real_text_labels_scores_and_votes(labelled_log):
    page, df, _ = labelled_log
    sel = df[(df["model"] == "Qwen3-8B") & (df["condition"] == "training") & df["af_reasoning"].fillna(False).astype(bool)
             & ~df["complied"].fillna(True).astype(bool)]
    dom, _ = dump(page, "model=Qwen3-8B&condition=training&af_reasoning=yes&complied=no")
    ready(dom)
    assert attr(dom, "data-matches") == str(len(sel)) and 0 < len(sel) < (df["model"] == "Qwen3-8B").sum() / 2
    recs = articles(dom)
    assert len(recs) == min(50, len(sel))
    by_id = sel.set_index("record_id")
    for a in recs:
        rid = re.search(r'href="#id=([^"]+)"', a).group(1)
        row = by_id.loc[rid]
        want = [row[c] for c in ("query", "reasoning", "response") if isinstance(row[c], str) and row[c]]
        assert texts(a) == want  # the real text, whole and in order
        assert f"AF score {row['af_score']:.2f}" in a and "AF reasoning: yes" in a and "complied: no" in a
        assert "af_reasoning judged by mockllm/mentions-training (3 votes): " in a
        assert a.count('<span class="vote">yes</span>') == round(3 * row["af_score"])
        assert html.escape(row["judge"], quote=False) in a
    assert "VLAF care (labelled)" in re.search(r"<title>(.*?)</title>", dom).group(1)


@needs_chromium
def test_search_finds_what_pandas_finds(labelled_log):
    page, df, _ = labelled_log
    word = "elderly"
    text = df[["query", "reasoning", "response"]].fillna("").agg(" ".join, axis=1).str.lower()
    sel = df[(df["condition"] == "deployment") & text.str.contains(word, regex=False)]
    dom, _ = dump(page, f"condition=deployment&q={word.upper()}")  # case-insensitive
    ready(dom)
    assert attr(dom, "data-matches") == str(len(sel)) and 0 < len(sel) < (df["condition"] == "deployment").sum()
    assert all(word in " ".join(texts(a)).lower() for a in articles(dom))


@needs_chromium
def test_markup_in_a_transcript_shows_as_text_and_never_runs(labelled_log, tmp_path):
    from urllib.parse import quote
    page, df, _ = labelled_log
    dom, _ = dump(page, "model=" + quote(EVIL_MODEL, safe=""))  # the model name holds markup too
    ready(dom)
    assert attr(dom, "data-matches") == "2"
    assert attr(dom, "data-pwned") is None and "PWNED" not in re.search(r"<title>(.*?)</title>", dom).group(1)
    main = dom[dom.index('<main id="list">'):dom.index("</main>")]  # the records (the selects hold it in attributes)
    assert "<script" not in main and "<img" not in main and "<b>" not in main
    a1, a2 = sorted(articles(dom), key=lambda a: "evil-2" in a)
    assert texts(a1) == ["</pre><b>x</b>", PAYLOADS[1], PAYLOADS[0]]  # shown verbatim, as text
    assert texts(a2) == ["<!--", PAYLOADS[0], PAYLOADS[1]]
    assert html.escape(PAYLOADS[0], quote=False) in a1 and html.escape(PAYLOADS[1], quote=False) in a1
    assert "model: &lt;img src=x onerror=" in a2 and "judge: &lt;img src=x onerror=" in a2
    assert "Content-Security-Policy" in page.read_text() and "script-src 'self'" in page.read_text()
    # the check can fail: the same payload inserted as HTML (what the browser never does) runs
    control = tmp_path / "control.html"
    control.write_text("<!doctype html><body><div id=d></div><script>document.getElementById('d').innerHTML = "
                       + repr(PAYLOADS[1]) + ";</script></body>")
    dom2, _ = dump(control)
    assert attr(dom2, "data-pwned") == "1"


@needs_chromium
def test_a_user_selects_clicks_and_types_and_nothing_from_a_transcript_runs(labelled_log):
    """The page's own controls, driven with real key presses, clicks and typing (DevTools
    protocol): each changes the URL hash and narrows the list to what pandas selects."""
    page, df, _ = labelled_log
    rendered = "document.body && document.body.dataset.state === 'ready' && +document.body.dataset.renders"

    def next_render(b: Browser, after: int) -> int:
        return b.wait(f"document.body.dataset.state === 'ready' && +document.body.dataset.renders > {after} "
                      "&& +document.body.dataset.renders")

    def shown(b: Browser) -> list[str]:
        return b.eval("Array.from(document.querySelectorAll('article.rec .head a')).map(a => a.textContent)")

    with Browser() as b:
        b.open(page.resolve().as_uri())
        n = b.wait(rendered)
        assert b.eval("+document.body.dataset.matches") == len(df)
        models = b.eval("Array.from(document.querySelector('select[name=model]').options).map(o => o.value)")
        assert models == ["", EVIL_MODEL, "Qwen3-8B", "olmo2-7b-instruct"]  # the markup is an option's text
        b.eval("document.querySelector('select[name=model]').focus()")
        for _ in range(2):  # the arrow key moves the closed select to the next model: the evil one, then Qwen3-8B
            key = {"key": "ArrowDown", "code": "ArrowDown", "windowsVirtualKeyCode": 40}
            b.send("Input.dispatchKeyEvent", {"type": "keyDown", **key})
            b.send("Input.dispatchKeyEvent", {"type": "keyUp", **key})
            n = next_render(b, n)
        assert b.eval("location.hash") == "#model=Qwen3-8B"
        qwen = df[df["model"] == "Qwen3-8B"]
        assert b.eval("+document.body.dataset.matches") == len(qwen) > 50
        first = shown(b)
        b.click("#pager-top button[title='next page']")
        n = next_render(b, n)
        assert b.eval("location.hash") == "#model=Qwen3-8B&page=2" and b.eval("document.body.dataset.page") == "2"
        assert set(shown(b)).isdisjoint(first) and set(first + shown(b)) <= set(qwen["record_id"])
        b.click("#q")
        b.type("Elderly", enter=True)
        n = next_render(b, n)
        text = qwen[["query", "reasoning", "response"]].fillna("").agg(" ".join, axis=1).str.lower()
        assert b.eval("location.hash") == "#model=Qwen3-8B&q=Elderly"
        assert b.eval("+document.body.dataset.matches") == int(text.str.contains("elderly").sum()) > 0
        assert set(shown(b)) <= set(qwen.loc[text.str.contains("elderly"), "record_id"])
        b.click("#reset")
        n = next_render(b, n)
        assert b.eval("+document.body.dataset.matches") == len(df)
        for rid, query in (("evil-1", "</pre><b>x</b>"), ("evil-2", "<!--")):  # each untrusted record's own link
            b.eval(f"location.hash = 'id={rid}'")
            n = next_render(b, n)
            assert shown(b) == [rid]
            assert b.eval("[typeof window.__pwned, document.title, document.body.hasAttribute('data-pwned'), "
                          "document.querySelectorAll('main img, main script, main b').length]") == [
                "undefined", "VLAF care (labelled)", False, 0]
            assert b.eval("document.querySelector('main pre.text').textContent") == query


@needs_chromium
def test_fifty_thousand_records_page_fast(tmp_path):
    n = 50_000
    rng = np.random.default_rng(1)
    filler = "The model weighs training against deployment before it answers. " * 8  # ~0.5 kB per text
    df = pd.DataFrame({"model": rng.choice([f"model-{i}" for i in range(5)], n),
                       "variant": rng.choice(["default", "cut-a", "cut-b"], n),
                       "condition": rng.choice(["training", "deployment"], n), "query_id": [f"q{i % 500}" for i in range(n)],
                       "sample": np.arange(n) // 500, "complied": rng.random(n) < 0.4,
                       "af_reasoning": rng.random(n) < 0.2, "af_score": rng.random(n)})
    df["reasoning"] = [f"{filler} record {i}." for i in range(n)]
    df["response"] = [f"Answer {i}: {filler[:200]}" for i in range(n)]
    df.loc[31_337, "response"] = "the one needle-31337 in the haystack"
    t0 = time.perf_counter()
    page = write_transcripts(df, tmp_path / "big")
    write_s = time.perf_counter() - t0
    data_mb = sum(f.stat().st_size for f in (tmp_path / "big" / "data").iterdir()) / 1e6
    dom, first_s = dump(page)
    ready(dom)
    assert attr(dom, "data-matches") == str(n) and len(articles(dom)) == 50
    first_ms = int(attr(dom, "data-first-ms"))
    want = df[(df["model"] == "model-3") & (df["condition"] == "training") & df["af_reasoning"]]
    dom, filt_s = dump(page, "model=model-3&condition=training&af_reasoning=yes&page=7")
    ready(dom)
    assert attr(dom, "data-matches") == str(len(want)) and attr(dom, "data-page") == "7"
    assert len(articles(dom)) == 50
    dom_s, search_s = dump(page, "q=needle-31337")
    ready(dom_s)
    assert attr(dom_s, "data-matches") == "1" and "needle-31337" in dom_s
    print(f"\n50,000 records: written in {write_s:.1f} s ({data_mb:.0f} MB of data files); Chromium wall time "
          f"(start to DOM dump) {first_s:.1f} s for page 1 (first render {first_ms} ms after "
          f"navigation), {filt_s:.1f} s for a filtered page 7, {search_s:.1f} s for a full-text search")
    # Chromium's own start-up is about 1 s; 20 s leaves room for a loaded 2-core CI machine.
    assert first_s < 20 and filt_s < 20 and search_s < 30
    assert first_ms < 5000


@needs_chromium
def test_report_links_its_figures_to_the_browser(tmp_path, capsys):
    from afdecomp.cli import main
    df = pd.read_parquet(ROOT / "data" / "example" / "example.parquet")
    small = df[df["model"].isin(["model-01", "model-02"]) & (df["steer_vector"] == "none")]
    small.to_parquet(tmp_path / "small.parquet")
    out = tmp_path / "report"
    assert main(["report", str(tmp_path / "small.parquet"), "--out", str(out), "--sections", "data,seed_sem",
                 "--transcripts"]) == 0
    assert "transcript browser written" in capsys.readouterr().out
    index = (out / "index.html").read_text()
    assert 'href="transcripts/index.html"' in index and "Transcripts behind this figure" in index
    # a clickable band over each model's row of the rates figure, one per tier; and the table under it
    bands = re.findall(r'<a class="row" href="(transcripts/index.html#variant=default&amp;steer=none&amp;model=model-02'
                       r'&amp;condition=training)"', index)
    assert len(bands) == 1
    cell = re.search(r'href="(transcripts/index.html#steer=none&amp;model=model-01&amp;variant=cut-provenance'
                     r'&amp;condition=deployment)"', index)
    assert cell
    for href, (model, variant, tier) in ((bands[0], ("model-02", "default", "training")),
                                         (cell.group(1), ("model-01", "cut-provenance", "deployment"))):
        want = small[(small["model"] == model) & (small["variant"] == variant) & (small["condition"] == tier)]
        dom, _ = dump(out / html.unescape(href).split("#")[0], html.unescape(href).split("#")[1])
        ready(dom)
        assert attr(dom, "data-matches") == str(len(want))
        assert all(f"model: {model}" in a and f"tier: {tier}" in a for a in articles(dom))


def test_report_script_writes_the_browser(tmp_path, capsys):
    """reports/transcripts.py on a small table with text and a vote store (no browser needed)."""
    import importlib.util
    import json
    import sys

    from afdecomp.label.judges import MockJudge
    from afdecomp.label.run import label
    from afdecomp.schema import tidy
    df = _plain(60)
    df["reasoning"] = [f"I am in {c}; I think about it." for c in df["condition"]]
    df = tidy(df)  # with record ids, which the parquet file keeps
    store = tmp_path / "votes.jsonl"
    judge = MockJudge("mockllm/tier", respond=lambda p: "Final answer: " + ("Yes" if "training" in p.user else "No"))
    label(df, "af_reasoning", judge, votes=2, store=store, progress=False)
    df.to_parquet(tmp_path / "t.parquet")
    script = ROOT / "reports" / "transcripts.py"
    sys.path.insert(0, str(script.parent))  # the script imports reports/_common.py, as when run from there
    try:
        spec = importlib.util.spec_from_file_location("reports_transcripts", script)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        assert mod.main(["--data", str(tmp_path / "t.parquet"), "--labels", str(store), "--out", str(tmp_path / "out")]) == 0
    finally:
        sys.path.remove(str(script.parent))
    printed = capsys.readouterr().out
    assert "applied af_reasoning" in printed and "text columns: reasoning (60 records), response (60 records)" in printed
    meta = _meta(tmp_path / "out")
    assert meta["n"] == 60 and meta["labellings"][0]["task"] == "af_reasoning"
    chunk = (tmp_path / "out" / "data" / "chunk-00000.js").read_text()
    rows = json.loads(chunk[chunk.index("(0, ") + 4:].rstrip().rstrip(");"))
    labels = meta["labels"]["af_reasoning"]
    for row, rid, lab in zip(rows, meta["rid"], labels, strict=True):  # every record: its 2 votes and its label
        assert row[3] == [[0, ["yes", "yes"] if lab == "1" else ["no", "no"]]], rid


def test_invalid_unicode_becomes_the_replacement_character(tmp_path):
    """A lone surrogate (e.g. a model's output cut inside a character) cannot be written as UTF-8
    (and crashes Chromium's DOM dump): it is written as U+FFFD; valid characters are kept."""
    df = pd.DataFrame({"model": ["m"], "variant": ["v"], "condition": ["training"],
                       "response": pd.Series(["cut \ud800 here \U0001f600"], dtype=object)})
    write_transcripts(df, tmp_path)
    assert '"cut \ufffd here \U0001f600"' in (tmp_path / "data" / "chunk-00000.js").read_text(encoding="utf-8")
