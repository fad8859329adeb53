"""The report's headline: per statistical model, what it found for each language model and
whether its numbers can be trusted, built from whatever the sections fitted."""

from __future__ import annotations

import pandas as pd

from ._core import Caution, Context, Table, Text
from .sections import _draws

_DRIVERS = {"values": "values", "goal_guarding": "goal guarding", "sycophancy": "sycophancy"}


def _interval(mean, lo, hi) -> str:
    return f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]"


def _headline_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Unsteered rows of the default variant (or the first one), one per model (and scenario)."""
    t = frame
    if "steer_vector" in t.columns:
        t = t[t["steer_vector"].astype(str) == "none"]
    variants = set(t["variant"].astype(str))
    variant = "default" if "default" in variants else sorted(variants)[0] if variants else None
    return t[t["variant"].astype(str) == variant] if variant is not None else t


def _per_model(frame: pd.DataFrame, value) -> pd.Series:
    t = _headline_rows(frame).copy()
    multi = "scenario" in t.columns and t["scenario"].nunique() > 1
    keys = t["model"].astype(str) + ((" · " + t["scenario"].astype(str)) if multi else "")
    return pd.Series([value(r) for _, r in t.iterrows()], index=keys.to_numpy())


def _diagnostics(name: str, rec) -> list:
    if rec is None:
        return []
    if rec.results is None:
        return [Text(f"**{name}:** not fitted: {rec.why_not}.")]
    line = rec.results.diagnostics_line()
    if line.endswith("NOT converged"):
        return [Caution(f"{name}: the sampler has not converged ({line.rsplit(':', 1)[0]})",
                        "its means and intervals in this summary and below are not yet reliable.",
                        f"run the report again with more draws (`--draws {2 * _draws(rec)}`, say) and check "
                        "this line again.")]
    return [Text(f"**{name}:** the sampler converged ({line.rsplit(':', 1)[0]}), so its intervals can be read.")]


def summary_blocks(ctx: Context) -> list:
    """The summary: one table row per language model with each fitted model's findings, and a
    plain-words line per fit on whether to trust them."""
    cols: dict[str, pd.Series] = {}
    notes = []
    seed = ctx.cache.get("seed_sem_gap")
    if seed is not None and len(seed):
        cols["gap, papers' estimator (mean ± SEM)"] = _per_model(
            seed, lambda r: f"{r['gap']:+.3f} ± {r['gap_sem']:.3f}" if pd.notna(r["gap_sem"]) else f"{r['gap']:+.3f}")
    gap = ctx.cache.get("gap")
    if gap is not None:
        prob = getattr(gap, "hdi_prob", 0.94)
        cols[f"gap, hierarchical ({prob:.0%} HDI)"] = _per_model(
            gap.summary(), lambda r: _interval(r["gap"], r["gap_lo"], r["gap_hi"]))
    rat = ctx.cache.get("rational")
    if rat is not None:
        dec = ctx.cache.get("decomposition_summary")
        if dec is not None:
            for d, name in _DRIVERS.items():
                part = dec[dec["driver"] == d].set_index(dec.loc[dec["driver"] == d, "model"].astype(str))
                cols[f"{name} share (94% HDI)"] = pd.Series(
                    {m: _interval(r["share"], r["share_lo"], r["share_hi"]) for m, r in part.iterrows()})
        checks = ctx.cache.get("theory_checks")
        if checks is not None:
            cols["theory check (rational-agent model)"] = pd.Series(
                {str(r["model"]): _theory_words(r) for _, r in checks.iterrows()})
    if cols:
        table = pd.DataFrame(cols)
        table.insert(0, "model", table.index)
        variant_note = ("default variant, unsteered" if "default" in set(ctx.df["variant"].astype(str))
                        else "first variant, unsteered")
        notes.append(Table("summary", table.reset_index(drop=True),
                           f"Per model ({variant_note}): the compliance gap P(comply | training) − "
                           "P(comply | deployment) from each estimator, and, when the rational-agent model was "
                           "fitted, the Shapley shares of the gap and its theory check.", 60, 60))
    else:
        notes.append(Text("No estimate was made (see the sections below for why)."))
    notes += _diagnostics("Hierarchical gap model", ctx.records.get("gap"))
    notes += _diagnostics("Rational-agent model", ctx.records.get("rational"))
    return notes


def _theory_words(r) -> str:
    """The theory check in words: g > 1 makes the gap grow with V; g < 1 gives it a peak."""
    g, v = float(r["g"]), float(r["V"])
    if g >= 1 or pd.isna(r.get("V_peak")):
        return f"g = {g:.2f} ≥ 1: the gap keeps growing with values V (V = {v:.2f})"
    return (f"g = {g:.2f} < 1: the gap peaks at V = {float(r['V_peak']):.2f}; with V = {v:.2f} "
            f"this model is on the {r.get('side', '?')} side")
