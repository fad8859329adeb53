"""The transcript browser: a static page that shows a study's transcripts (query, reasoning,
output) with their labels, judge scores and votes, filterable by model, prompt variant, tier,
scenario, steering and label, searchable, and paged.

``write_transcripts(df, out)`` writes ``out/index.html`` (with ``browser.js`` and
``browser.css``, package data in ``afdecomp/_data/report/transcripts``) and the data as
JavaScript files in ``out/data``: ``meta.js`` (every record's condition, labels and scores, a few
bytes each) and ``chunk-NNNNN.js`` (the text, about ``chunk_bytes`` per file, loaded when a page
shows them). The page needs no server: open ``index.html`` from disk. Records are grouped by
model × scenario × variant × steering × tier and shuffled within each group with ``seed``, so the
first page of a group is a random sample of it.

A transcript is untrusted input. The page inserts every string through ``textContent`` (never as
HTML), and its Content-Security-Policy allows only the page's own script files, so markup in a
transcript shows as text and nothing in it runs.

The report links its figures here (``afdecomp report --transcripts``): :class:`Links` turns a
figure's ``browse`` spec into a table of links under the figure and an image map over its rows;
a link is ``transcripts/index.html#model=...&condition=...``.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd

#: Columns a table must have.
REQUIRED = ("model", "variant", "condition")
#: The filter keys, in the order the records are grouped (tier last).
KEYS = ("model", "scenario", "variant", "steer", "condition")
#: Text columns of the tidy table, in the order shown.
TEXT = ("query", "reasoning", "response")
LABELS = ("complied", "partial", "af_reasoning")
SCORES = ("compliance_score", "af_score")
_ASSETS = ("index.html", "browser.js", "browser.css")
_TIERS = ("training", "deployment")
_SURROGATE = re.compile("[\ud800-\udfff]")
_STEER = re.compile(r"^(?P<vector>.*?)(?: L(?P<layer>-?\d+))?(?: α=(?P<coef>[-+]?[0-9.e+-]+))?$")


def write_transcripts(df: pd.DataFrame, out: str | os.PathLike, *, stores: Sequence[str | os.PathLike] | None = None,
                      seed: int = 0, per_cell: int | None = None, per_page: int = 50, chunk_bytes: int = 1_000_000,
                      title: str = "Transcripts") -> Path:
    """Write the transcript browser for a table and return the path of its ``index.html``.

    Parameters
    ----------
    df : DataFrame
        The tidy table (as from :func:`afdecomp.load_logs`), or any table with the columns
        ``model``, ``variant`` and ``condition``. Shown when present: ``query``, ``reasoning``,
        ``response`` (the text; a record without it says so), ``complied``, ``partial``,
        ``af_reasoning`` (labels), ``compliance_score``, ``af_score`` (judge scores), ``judge``,
        ``scenario``, ``steer_vector``/``steer_layer``/``steer_coef``, ``query_id``, ``sample``,
        ``record_id`` (derived from the schema's id columns when absent).
    out : str or Path
        Folder to write (created; the data files of an earlier browser there are replaced).
    stores : list of str or Path, optional
        Vote stores (``afdecomp label --out``): each record's individual votes are shown, per
        task and judge.
    seed : int
        Seed of the random order within each model × scenario × variant × steering × tier.
    per_cell : int, optional
        Keep at most this many records per group (a random sample, by ``seed``); default all.
    per_page : int
        Records per page.
    chunk_bytes : int
        Approximate text bytes per data file.
    title : str
        Page title.

    Returns
    -------
    Path
        ``out/index.html``.

    Raises
    ------
    ValueError
        When a required column is missing (naming it), or a vote store is unreadable.
    """
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"write_transcripts needs a pandas DataFrame, not {type(df).__name__}")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"write_transcripts: the table lacks the required column(s) {missing} "
                         f"(it needs {list(REQUIRED)}; afd.load_logs returns a table with them)")
    if per_page < 1 or chunk_bytes < 1 or (per_cell is not None and per_cell < 1):
        raise ValueError("per_page, chunk_bytes and per_cell must be positive")
    out = Path(out)
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    for old in list(data.glob("chunk-*.js")) + [data / "meta.js"]:
        old.unlink(missing_ok=True)

    keys = condition_keys(df)
    order, groups = _order(keys, seed, per_cell)
    t = df.iloc[order].reset_index(drop=True)
    k = keys.iloc[order].reset_index(drop=True)
    n = len(t)
    texts = [_strings(t[c]) if c in t.columns else [None] * n for c in TEXT]
    rids = _record_ids(df).iloc[order].tolist()
    votes, labellings = _votes(stores, rids)
    sizes = np.zeros(n, dtype=np.int64)
    for col in texts:
        sizes += np.fromiter((len(s) if s else 0 for s in col), dtype=np.int64, count=n)
    chunks = _chunks(sizes, chunk_bytes)
    for i, (start, count) in enumerate(chunks):
        rows = [[texts[0][j], texts[1][j], texts[2][j], votes.get(j)] for j in range(start, start + count)]
        _write_js(data / f"chunk-{i:05d}.js", f"AFD_CHUNK({i}, ", rows, ");\n")

    values = {c: sorted(set(k[c]), key=_sort_key(c)) for c in KEYS}
    codes = {c: pd.Categorical(k[c], categories=values[c]).codes for c in KEYS}
    present = [c for c in TEXT if c in t.columns and t[c].notna().any()]
    meta = {
        "title": str(title), "n": n, "rows_in_table": len(df), "seed": int(seed), "perCell": per_cell,
        "perPage": int(per_page), "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "keys": list(KEYS), "values": values,
        "groups": [[int(codes[key][start]) for key in KEYS] + [start, count] for start, count in groups],
        "labels": {c: _label_string(t[c]) for c in LABELS if c in t.columns},
        "scores": {c: _rounded(t[c]) for c in SCORES if c in t.columns},
        "judges": _coded(t["judge"]) if "judge" in t.columns else None,
        "rid": rids, "qid": _strings(t["query_id"]) if "query_id" in t.columns else None,
        "sample": [int(v) for v in t["sample"]] if "sample" in t.columns and t["sample"].notna().all() else None,
        "text": {"columns": list(TEXT), "present": present},
        "chunks": chunks, "labellings": labellings,
    }
    _write_js(data / "meta.js", "var AFD_META = ", meta, ";\n")
    src = resources.files("afdecomp") / "_data" / "report" / "transcripts"
    for name in _ASSETS:
        with resources.as_file(src / name) as p:
            shutil.copyfile(p, out / name)
    return out / "index.html"


# ----------------------------------------------------------------------------- keys and order
def condition_keys(df: pd.DataFrame) -> pd.DataFrame:
    """The browser's filter keys of each row as strings: model, scenario, variant, steer
    (``none`` or ``VECTOR Llayer α=+c``), condition."""
    n = len(df)

    def col(name: str, default: str) -> pd.Series:
        if name not in df.columns:
            return pd.Series([default] * n, index=df.index, dtype=object)
        s = df[name].astype(object)
        return s.where(s.notna(), default).astype(str)

    steer = col("steer_vector", "none")
    label = steer.copy()
    on = (steer != "none").to_numpy()
    if on.any():
        layer = df["steer_layer"] if "steer_layer" in df.columns else pd.Series(pd.NA, index=df.index)
        coef = df["steer_coef"] if "steer_coef" in df.columns else pd.Series(np.nan, index=df.index)
        label[on] = [f"{v}" + ("" if pd.isna(ly) else f" L{int(ly)}") + ("" if pd.isna(c) else f" α={float(c):+g}")
                     for v, ly, c in zip(steer[on], layer[on], coef[on], strict=True)]
    return pd.DataFrame({"model": col("model", "(none)"), "scenario": col("scenario", "default"),
                         "variant": col("variant", "(none)"), "steer": label,
                         "condition": col("condition", "(none)")}, index=df.index)


def _sort_key(key: str):
    if key == "condition":
        return lambda v: (_TIERS.index(v) if v in _TIERS else len(_TIERS), v)
    if key == "steer":  # none first, then by vector, layer and coefficient (numerically)
        def steer(v: str):
            m = _STEER.match(v)
            layer = int(m["layer"]) if m and m["layer"] else -1
            coef = float(m["coef"]) if m and m["coef"] else 0.0
            return (v != "none", m["vector"] if m else v, layer, coef, v)
        return steer
    if key in ("variant", "scenario"):
        return lambda v: (v != "default", v)
    return lambda v: v


def _order(keys: pd.DataFrame, seed: int, per_cell: int | None) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Row positions grouped by the keys (in the browser's order), shuffled within each group;
    and each group's (start, count) in that order."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64), []
    codes = [pd.Categorical(keys[c], categories=sorted(set(keys[c]), key=_sort_key(c))).codes for c in KEYS]
    rand = np.random.default_rng(seed).random(n)
    order = np.lexsort([rand] + codes[::-1])
    stacked = np.stack([c[order] for c in codes], axis=1)
    new = np.ones(n, dtype=bool)
    new[1:] = (stacked[1:] != stacked[:-1]).any(axis=1)
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, n))
    if per_cell is not None:
        keep = np.concatenate([order[s:s + min(c, per_cell)] for s, c in zip(starts, counts, strict=True)])
        counts = np.minimum(counts, per_cell)
        order = keep
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return order, [(int(s), int(c)) for s, c in zip(starts, counts, strict=True)]


def _chunks(sizes: np.ndarray, chunk_bytes: int, max_records: int = 2000) -> list[list[int]]:
    """Consecutive (start, count) ranges of about ``chunk_bytes`` of text each."""
    out, start, acc = [], 0, 0
    for i, s in enumerate(sizes.tolist()):
        acc += s + 40
        if acc >= chunk_bytes or i + 1 - start >= max_records:
            out.append([start, i + 1 - start])
            start, acc = i + 1, 0
    if start < len(sizes) or not out:
        out.append([start, len(sizes) - start])
    return out


# ----------------------------------------------------------------------------- columns
def _strings(s: pd.Series) -> list[str | None]:
    obj = s.astype(object)
    return [None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)
            for v in obj.tolist()]


def _label_string(s: pd.Series) -> str:
    """A boolean column as one string, a character per record: 1 yes, 0 no, - missing."""
    b = s.astype("boolean")
    return "".join(np.where(b.isna().to_numpy(), "-", np.where(b.fillna(False).to_numpy(dtype=bool), "1", "0")))


def _rounded(s: pd.Series) -> list[float | None]:
    v = pd.to_numeric(s, errors="coerce").astype("float64").to_numpy()
    return [None if np.isnan(x) else round(float(x), 4) for x in v]


def _coded(s: pd.Series) -> dict:
    codes, uniques = pd.factorize(s.astype(object), use_na_sentinel=True)
    return {"values": [str(u) for u in uniques], "codes": codes.tolist()}


def _record_ids(df: pd.DataFrame) -> pd.Series:
    from ..schema import REQUIRED as ID_REQUIRED
    from ..schema import record_ids
    if "record_id" in df.columns and df["record_id"].notna().all():
        return df["record_id"].astype(str)
    derived = (record_ids(df) if all(c in df.columns for c in ID_REQUIRED)
               else pd.Series([f"row-{i}" for i in range(len(df))], index=df.index))
    if "record_id" in df.columns:
        return df["record_id"].astype(object).where(df["record_id"].notna(), derived).astype(str)
    return derived


def _votes(stores, rids: list[str]) -> tuple[dict[int, list], list[dict]]:
    """Each record's votes from the stores: ``{position: [[labelling, [vote, ...]], ...]}`` and
    the labellings (task, judge, scoring, store) they index."""
    if not stores:
        return {}, []
    from ..label.store import VoteStore
    pos = {r: i for i, r in enumerate(rids)}
    per: dict[int, list] = {}
    labellings: list[dict] = []
    for path in stores:
        with VoteStore(path, readonly=True) as vs:
            table = vs.table()
        table = table[table["record_id"].isin(set(pos))]
        if table.empty:
            continue
        table = table.sort_values(["task", "judge", "scoring", "record_id", "vote"], kind="stable")
        for (task, judge, scoring), part in table.groupby(["task", "judge", "scoring"], sort=False):
            li = len(labellings)
            labellings.append({"task": str(task), "judge": str(judge), "scoring": str(scoring), "store": str(path)})
            for rid, votes in part.groupby("record_id", sort=False):
                shown = [_vote_text(a, p, ok) for a, p, ok in zip(votes["answer"], votes["prob"], votes["ok"],
                                                                   strict=True)]
                per.setdefault(pos[rid], []).append([li, shown])
    return per, labellings


def _vote_text(answer, prob, ok) -> str:
    if not ok:
        return "failed"
    text = "?" if answer is None else str(answer)
    if isinstance(prob, Mapping) and prob:
        text += " (" + ", ".join(f"{k} {float(v):.2f}" for k, v in prob.items()) + ")"
    return text


def _write_js(path: Path, head: str, obj, tail: str) -> None:
    """``head + JSON + tail`` as UTF-8; lone surrogates (text that was not valid Unicode, which no
    UTF-8 file can hold) become U+FFFD, the replacement character."""
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    path.write_bytes(_SURROGATE.sub("\ufffd", head + body + tail).encode("utf-8"))


# ----------------------------------------------------------------------------- links from the report
def browse_href(filters: Mapping[str, str], page: str = "transcripts/index.html") -> str:
    """The link to the browser showing the records that match ``filters`` (key -> value)."""
    bad = set(filters) - set(KEYS) - set(LABELS) - {"q", "page", "id"}
    if bad:
        raise ValueError(f"unknown transcript filter(s) {sorted(bad)}; known: {list(KEYS) + list(LABELS)}")
    return page + "#" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in filters.items())


class Links:
    """Links from the report's figures to the transcript browser of the same table.

    A figure's ``browse`` spec is a dict: ``by`` (keys among model, scenario, variant, steer
    naming a figure row), ``where`` (fixed filters, e.g. ``{"variant": "default"}``) and,
    optionally, ``split_tiers`` (e.g. ``("training", "deployment")``: each row of the figure
    shows these tiers from top to bottom, and its clickable band is cut into one per tier).

    Parameters
    ----------
    df : DataFrame
        The table the browser shows.
    page : str
        The browser's address relative to the report page.
    """

    def __init__(self, df: pd.DataFrame, page: str = "transcripts/index.html"):
        self.keys = condition_keys(df)
        self.page = page

    def _rows(self, browse: Mapping) -> tuple[list[str], pd.DataFrame]:
        where = dict(browse.get("where") or {})
        by = [c for c in browse.get("by", ("model",)) if c in KEYS and c != "condition"]
        k = self.keys
        for key, v in where.items():
            k = k[k[key] == str(v)]
        by = [c for c in by if c == "model" or k[c].nunique() > 1]  # a key with one value says nothing
        counts = k.groupby(by + ["condition"], sort=False).size().rename("n").reset_index()
        return by, counts

    def table(self, browse: Mapping) -> dict:
        """Rows (one per combination of ``by``) of links per tier: ``{"header": [...],
        "rows": [{"label", "cells": [{"text", "href"}]}]}``."""
        where = {k: str(v) for k, v in (browse.get("where") or {}).items()}
        by, counts = self._rows(browse)
        tiers = sorted(set(counts["condition"]), key=_sort_key("condition"))
        rows = []
        for combo, part in counts.groupby(by, sort=False):
            combo = combo if isinstance(combo, tuple) else (combo,)
            base = {**where, **dict(zip(by, combo, strict=True))}
            n = dict(zip(part["condition"], part["n"], strict=True))
            cells = [{"text": "all", "href": browse_href(base, self.page), "n": int(sum(n.values()))}]
            cells += [{"text": t, "href": browse_href({**base, "condition": t}, self.page), "n": int(n[t])}
                      if t in n else {"text": t, "href": None, "n": 0} for t in tiers]
            rows.append({"label": " · ".join(combo), "cells": cells, "filters": base})
        rows.sort(key=lambda r: tuple(_sort_key(b)(r["filters"][b]) for b in by))
        return {"header": [" · ".join(by), "all", *tiers], "rows": rows}

    def image_map(self, fig, browse: Mapping, *, dpi: float, png: str | os.PathLike | None = None) -> list[dict]:
        """Clickable areas over a figure saved with ``bbox_inches="tight"`` at ``dpi``: one per
        y tick label naming a row of :meth:`table` (``model`` or ``model · scenario``), spanning
        the tick label and its axes. Each area is ``{"href", "title", "box"}`` with ``box`` =
        (left, top, width, height) in percent of the image, so that the areas scale with it.
        Empty when the saved PNG's size does not match the layout computed here."""
        import matplotlib as mpl
        where = {k: str(v) for k, v in (browse.get("where") or {}).items()}
        k = self.keys
        for key, v in where.items():
            k = k[k[key] == v]
        named = {r["label"]: (r["label"], r["filters"]) for r in self.table(browse)["rows"]}
        for m, sc in k[["model", "scenario"]].drop_duplicates().itertuples(index=False):  # the plots' row names
            named[m] = (m, {**where, "model": m})
            named[f"{m} · {sc}"] = (f"{m} · {sc}", {**where, "model": m, "scenario": sc})
        split = [str(t) for t in browse.get("split_tiers") or ()]
        old_dpi = fig.dpi
        fig.set_dpi(dpi)  # lay the figure out as savefig did: text extents depend on the dpi
        try:
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            tight = fig.get_tightbbox(renderer).padded(mpl.rcParams["savefig.pad_inches"])
            width, height = tight.width * dpi, tight.height * dpi
            if png is not None:
                size = _png_size(png)
                if size is None or abs(size[0] - width) > 2 or abs(size[1] - height) > 2:
                    return []
                width, height = size

            def px(x, y):  # display pixels at fig.dpi -> PNG pixels
                return ((x / fig.dpi - tight.x0) * dpi, (tight.y1 - y / fig.dpi) * dpi)

            areas = []
            for ax in fig.axes:
                labels, ticks = ax.get_yticklabels(), ax.get_yticks()
                if len(labels) == 0:
                    continue
                ys = [ax.transData.transform((0, t))[1] for t in ticks]
                step = float(np.median(np.abs(np.diff(ys)))) if len(ys) > 1 else ax.bbox.height
                box = ax.bbox
                for lab, y in zip(labels, ys, strict=False):
                    row = named.get(lab.get_text())
                    if row is None or not (box.y0 - 1 <= y <= box.y1 + 1):
                        continue
                    x0 = min(lab.get_window_extent(renderer).x0, box.x0)
                    x1 = max(o.bbox.x1 for o in ax.get_shared_y_axes().get_siblings(ax))  # panels sharing the rows
                    top, bottom = min(y + step / 2, box.y1), max(y - step / 2, box.y0)  # inside the axes
                    (a, b), (c, d) = px(x0, top), px(x1, bottom)
                    parts = [(row[0], row[1])]
                    if split:  # the row's band cut into one band per tier, top to bottom
                        parts = [(f"{row[0]}, {t}", {**row[1], "condition": t}) for t in split]
                    h = (d - b) / len(parts)
                    for j, (name, filters) in enumerate(parts):
                        pct = (100 * a / width, 100 * (b + j * h) / height, 100 * (c - a) / width, 100 * h / height)
                        areas.append({"href": browse_href(filters, self.page), "title": f"transcripts of {name}",
                                      "box": [round(float(v), 2) for v in pct]})
            return areas
        finally:
            fig.set_dpi(old_dpi)


def _png_size(path) -> tuple[int, int] | None:
    """Width and height of a PNG file from its header (None when it is not a PNG)."""
    import struct
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", head[16:24])


__all__ = ["write_transcripts", "condition_keys", "browse_href", "Links", "REQUIRED", "KEYS"]
