"""The report folder: a list of sections, each a few blocks of text, tables and figures.

``build_report(df, out)`` runs every registered section on the tidy table and writes
``out/index.md`` and ``out/index.html`` plus each table as CSV and each figure as PNG and PDF.
A section is a function ``Context -> Section | None`` registered with :func:`section`;
adding one to the report is one decorated function.
"""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # the report writes files; never needs a screen
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from . import plot  # noqa: E402
from .aggregate import aggregate  # noqa: E402
from .models.baseline import rates, seed_sem_gap  # noqa: E402

#: Draws per chain of the report's fits (option ``draws`` overrides both), measured on
#: data/example (2 chains, 2 cores): the rational-agent model at 1,500 draws reached R-hat
#: 1.005-1.009, bulk ESS 488-541, no divergences in ~70 s, but tail ESS 399 once, hence 2,000;
#: the gap model's slowest quantity (the LKJ correlation of β and γ, which those data barely
#: inform) gets bulk ESS ~230-380 at 2,000 draws.
GAP_DRAWS = 2000
RATIONAL_DRAWS = 2000

@dataclass
class Text:
    markdown: str


@dataclass
class Table:
    name: str
    frame: pd.DataFrame
    caption: str = ""
    max_rows: int = 40


@dataclass
class Figure:
    name: str
    figure: matplotlib.figure.Figure
    caption: str = ""


@dataclass
class Section:
    title: str
    blocks: list = field(default_factory=list)


@dataclass
class Context:
    """What sections read: the table, the load report, options, and a cache shared between them."""

    df: pd.DataFrame
    out: Path
    load_report: object | None = None
    options: dict = field(default_factory=dict)
    cache: dict = field(default_factory=dict)

    def cached(self, key: str, make: Callable[[], object]):
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]


SECTIONS: dict[str, tuple[int, Callable[[Context], Section | None]]] = {}


def section(key: str, order: int):
    """Register a report section under ``key`` (the order decides its place)."""
    def deco(fn):
        SECTIONS[key] = (order, fn)
        return fn
    return deco


# ----------------------------------------------------------------------------- sections
def _not_fittable(ctx: Context) -> str | None:
    """Why no model can be fitted to this table (None when one can): no labels, or no
    condition labelled in both tiers."""
    lab = ctx.df[ctx.df["complied"].notna()]
    if lab.empty:
        return "no generation has a compliance label yet (label them first)"
    if lab["condition"].nunique() < 2:
        return "the labelled generations are all in one tier, so there is no gap to model"
    return None


@section("data", order=0)
def _data_section(ctx: Context) -> Section:
    df = ctx.df
    blocks = []
    if ctx.load_report is not None:
        blocks.append(Text("```\n" + str(ctx.load_report) + "\n```"))
    counts = (df.groupby(["model", "variant", "condition"], observed=True)["complied"]
              .agg(n="size", labelled="count").reset_index())
    wide = counts.pivot_table(index=["model", "variant"], columns="condition", values="n",
                              observed=True, fill_value=0).reset_index()
    wide.columns.name = None
    blocks.append(Text(
        f"{len(df):,} generations from {df['model'].nunique()} model(s), "
        f"{df['variant'].nunique()} prompt variant(s), {df['query_id'].nunique()} queries, "
        f"{df['steer_vector'].nunique()} steering setting(s) (incl. none); "
        f"{int(df['complied'].isna().sum()):,} without a compliance label."))
    blocks.append(Table("generations", wide, "Generations per model, variant and tier."))
    return Section("Data", blocks)


@section("labels", order=5)
def _labels_section(ctx: Context) -> Section | None:
    """Who labelled what: label coverage per column and judge, vote failures from the stores,
    and the judges' measured accuracy (validations). Absent when nothing was judged."""
    df = ctx.df
    runs = ctx.options.get("label_runs")
    vals = ctx.options.get("validations") or []
    judged = "judge" in df.columns and df["judge"].notna().any()
    if not judged and runs is None and not vals:
        return None
    blocks = []
    judge = df["judge"] if "judge" in df.columns else pd.Series(pd.NA, index=df.index, dtype="str")
    rows = []
    for col in ("complied", "partial", "af_reasoning"):
        if col not in df.columns:
            continue
        s = df[col].astype("boolean")
        who = judge.fillna("(none)").astype(str)
        sources = who.map({j: _source_of(j, col) for j in who.unique()})
        for source, part in s.groupby(sources, sort=True):
            rows.append({"label": col, "source": source, "rows": len(part), "labelled": int(part.notna().sum()),
                         "yes": int(part.fillna(False).sum()), "NA": int(part.isna().sum())})
    if rows:
        blocks.append(Table("label_sources", pd.DataFrame(rows),
                            "Labels by column and source: which judge (or the output's decision tags) set them; "
                            "NA rows are left out of every rate and model."))
    if runs is not None and len(runs):
        t = runs.rename(columns={"failed": "failed votes"})
        blocks.append(Table("judge_runs", t,
                            "Judge runs in the vote stores: records, vote keys and votes that failed (engine error "
                            "or unparseable answer; a record whose votes all failed stays NA)."))
    if vals:
        summ = pd.concat([v.summary() for v in vals], ignore_index=True)
        blocks.append(Table("judge_validation", summ,
                            "Measured accuracy of the judges against human labels (afdecomp validate-judge)."))
        for i, v in enumerate(vals):
            ax = plot.roc(v)
            blocks.append(Figure(f"judge_roc_{i}", ax.figure,
                                 f"ROC of {v.info.get('judge')} on {v.info.get('dataset')}, with the lexical "
                                 "baseline a judge has to beat."))
    else:
        blocks.append(Text("No judge validation was given: the judges' accuracy on this data is unmeasured "
                           "(run `afdecomp validate-judge` and pass `--judge-validation`)."))
    return Section("Labels and judges", blocks)


def _source_of(judge: str, column: str) -> str:
    """What set ``column`` in a row whose ``judge`` is ``judge``: the entry ``task=spec (how)`` of
    a task filling that column, the decision ``tags``, or a reader's judge string."""
    if judge == "(none)":
        return "as read (no judge recorded)"
    from .label.tasks import bundled_tasks
    parts = [p.strip() for p in str(judge).split(";") if p.strip()]
    for part in parts:
        name, sep, spec = part.partition("=")
        task = bundled_tasks().get(name) if sep else None
        if task is not None and column in (task.column, task.score_column):
            return spec
    if column == "complied" and "tags" in parts:
        return "decision tags"
    return "as read (no judge recorded)" if any("=" in p for p in parts) else str(judge)


@section("seed_sem", order=10)
def _seed_sem_section(ctx: Context) -> Section:
    if not ctx.df["complied"].notna().any():  # e.g. unlabelled transcripts
        return Section("Compliance gaps (papers' estimator)", [Text(
            "No generation has a compliance label yet (label them first): no rate or gap to estimate.")])
    t = ctx.cached("seed_sem_gap", lambda: seed_sem_gap(ctx.df))
    r = ctx.cached("rates", lambda: rates(ctx.df))
    if t.empty:  # labels only in one tier (e.g. a partly judged sampler log): no gap yet
        return Section("Compliance gaps (papers' estimator)", [Text(
            f"No condition has labelled generations in both tiers "
            f"({int(ctx.df['complied'].isna().sum()):,} of {len(ctx.df):,} generations have no "
            "compliance label): label them with a judge to estimate gaps.")])
    blocks = [Text("The published estimator: per seed (`sample`), the compliance rate over "
                   "queries in training minus deployment; mean over seeds ± SEM, and a one-sample "
                   "t-test. Seeds are the only replicate here; queries are treated as fixed.")]
    show = t.copy()
    for c in ("rate_training", "rate_deployment", "gap", "gap_sem"):
        show[c] = show[c].round(3)
    show["t"] = show["t"].round(2)
    show["p_value"] = show["p_value"].map(lambda p: f"{p:.2g}")
    blocks.append(Table("seed_sem_gap", show, "Compliance rates and gap per condition (papers' estimator)."))
    ax = plot.seed_gaps(t)
    blocks.append(Figure("gap_per_model", ax.figure, "Compliance gap per model and prompt variant, "
                         "mean over seeds ± 1 SEM (unsteered conditions)."))
    variant = "default" if "default" in set(ctx.df["variant"].astype(str)) else str(ctx.df["variant"].iloc[0])
    ax = plot.rates(r, variant=variant)
    blocks.append(Figure("rates_by_tier", ax.figure, f"Compliance rate per model in each tier, "
                         f"variant '{variant}', 95% Wilson intervals."))
    return Section("Compliance gaps (papers' estimator)", blocks)


@section("rational", order=30)
def _rational_section(ctx: Context) -> Section | None:
    from .design import UnknownVariantError, default_catalog
    from .models.rational import RationalAgent, identifiability

    catalog = ctx.options.get("catalog") or default_catalog()
    title = "Rational-agent model"
    why = _not_fittable(ctx)
    if why:
        return Section(title, [Text(f"Not fitted: {why}.")])
    cells = ctx.cached("cells", lambda: aggregate(ctx.df, warn=False))
    try:
        ident = identifiability(cells, catalog)
    except UnknownVariantError as e:
        return Section(title, [Text(f"Not fitted: {e}".split(":")[0] + ". Declare the variants' cues in a "
                                    "catalog TOML file and pass `--catalog FILE`.")])
    blocks = [Text("Our structural (expected-utility, logit-choice) model of the gap: values V, "
                   "sycophancy S and goal guarding g, moved by the prompt variants' cues and by steering "
                   "(docs/model.md). It is our formalisation, not a published model.")]
    blocks.append(Table("rational_identifiability", ident, "What this design can identify (from the design alone)."))
    if not ident.set_index("parameter").reindex(["V", "S", "g"])["identified"].fillna(False).any():
        blocks.append(Text("Not fitted: the design identifies none of V, S, g (see the table)."))
        return Section(title, blocks)
    draws = int(ctx.options.get("draws", RATIONAL_DRAWS))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = RationalAgent(draws=draws, tune=draws, chains=2, random_seed=ctx.options.get("random_seed", 0),
                            progress=True).fit(ctx.df, catalog=catalog)
    ctx.cache["rational"] = res
    diag = res.diagnostics()
    blocks.append(Text(
        f"Fitted in {res.idata.attrs['sampling_seconds']:.0f} s ({res.idata.attrs['sampler']}, 2 chains x {draws} draws): "
        f"max R-hat {diag['r_hat'].max():.3f}, min bulk ESS {diag['ess_bulk'].min():.0f}, "
        f"min tail ESS {diag['ess_tail'].min():.0f}, {res.divergences} divergence(s)."))
    for w in caught:
        if issubclass(w.category, (RuntimeWarning, UserWarning)) and "RationalAgent" in str(w.message):
            blocks.append(Text(f"**Warning:** {w.message}"))
    summ = res.summary().round(3)
    blocks.append(Table("rational_parameters", summ, "Posterior mean, SD and 94% HDI per model and parameter.", 80))
    blocks.append(Figure("rational_parameters", plot.rational_params(res).figure,
                         "Values V, sycophancy S and goal guarding g per model (94% HDI)."))
    blocks.append(Figure("gap_vs_values", plot.gap_vs_values(res).figure,
                         "Theory check: predicted gap against V per model, each model's posterior V marked."))
    checks = res.theory_checks().round(4)
    blocks.append(Table("rational_theory_checks", checks, "Theory checks per model (docs/model.md)."))
    ppc = res.ppc()
    inside = ((ppc["observed"] >= ppc["lo"]) & (ppc["observed"] <= ppc["hi"])).mean()
    blocks.append(Text(f"Posterior predictive check: {inside:.0%} of the {len(ppc)} observed gaps lie inside "
                       "their 94% predictive interval."))
    blocks.append(Table("rational_ppc", ppc.round(3), "Observed vs predicted gap per condition."))
    gap = ctx.cache.get("gap")
    if gap is not None:  # the reduced form was fitted to the same table in the gap section
        blocks.extend(_loo_blocks(res, gap))
    return Section(title, blocks)


def _loo_blocks(res, gap) -> list:
    """PSIS-LOO of the structural model against the reduced-form gap model, as text and a table."""
    try:
        cmp = res.compare(gap)
    except ValueError as e:  # e.g. the two fits saw different cells
        return [Text(f"No LOO comparison with the reduced-form gap model: {e}.")]
    best, other = cmp.index[0], cmp.index[1]
    diff, dse = float(-cmp.loc[other, "elpd_diff"]), float(cmp.loc[other, "dse"])
    verdict = ("the data cannot tell them apart (the difference is under 2 standard errors)" if diff < 2 * dse
               else f"the data favour the {best} model (by more than 2 standard errors)")
    show = cmp[["elpd", "se", "p", "elpd_diff", "dse", "weight", "diag_elpd"]].round(1)
    show.insert(0, "model", show.index)
    return [Text(f"PSIS-LOO against the unconstrained reduced-form gap model (`res.compare(gap)`): "
                 f"the {best} model has the higher expected log predictive density for held-out cells, by "
                 f"{diff:.1f} ± {dse:.1f} "
                 f"(with {cmp.loc['rational', 'p']:.0f} against {cmp.loc['reduced-form gap', 'p']:.0f} "
                 f"effective parameters), so {verdict}."),
            Table("rational_loo", show.reset_index(drop=True),
                  "PSIS-LOO comparison (ArviZ): expected log predictive density per model, "
                  "its difference to the best and the standard error of that difference.")]


@section("decomposition", order=40)
def _decomposition_section(ctx: Context) -> Section:
    from .ablation import ablation_contrasts, af_reasoning_rates
    from .models.decomposition import decompose

    title = "Decomposition"
    res = ctx.cache.get("rational")
    if res is None:
        return Section(title, [Text("Not computed: the decomposition reuses the rational-agent fit, which "
                                    "was not made for these data (see the rational-agent section).")])
    blocks = [Text("Each model's predicted gap under the full prompt, split among values, goal guarding and "
                   "sycophancy by Shapley values on the probability scale (MODEL.md §4): a driver is switched "
                   "off by setting its cue to 0 (stakes unchanged), and its share is its average marginal "
                   "contribution over the orders of switching the drivers on. Shares plus the remainder "
                   "G(∅) equal the gap for every posterior draw; under the rational-agent model G(∅) = 0.")]
    ident = res.identifiability.set_index("parameter")["identified"]
    if not bool(ident.reindex(["S", "g"]).fillna(False).all()):
        blocks.append(Text("**Caution:** this design does not separate S from g (see the identifiability table "
                           "above), so the split between sycophancy and goal guarding is driven by the priors."))
    dec = ctx.cached("decomposition", lambda: decompose(res))
    blocks.append(Table("decomposition", dec.summary().round(4), "Shapley shares per model (posterior mean, 94% HDI)."))
    blocks.append(Figure("decomposition", plot.decomposition(dec).figure,
                         "Shapley decomposition of each model's gap (rational-agent fit). Bars: posterior-mean "
                         "shares; whiskers: 94% HDI of each share; diamond: total gap with its 94% HDI."))
    variants = set(ctx.df["variant"].astype(str))
    if "default" in variants and len(variants) > 1:
        con = ctx.cached("ablation_contrasts", lambda: ablation_contrasts(ctx.df, res))
        blocks.append(Text("The published view: gap(default) − gap(variant) per ablation. Data intervals are "
                           "95%-style percentile intervals (94%) of a bootstrap over queries, resampled within "
                           "model and paired across variants; model intervals are 94% HDIs of the fitted "
                           "rational-agent model."))
        blocks.append(Table("ablation_contrasts", con.round(4), "Gap per variant and contrast with the default "
                            "prompt, from data and from the fitted model.", 60))
        af = af_reasoning_rates(ctx.df)
        axes = plot.ablation_forest(con, af)
        note = "" if af is not None else " The data carry no AF-reasoning labels, so the right panel is empty."
        blocks.append(Figure("ablation_forest", axes[0].figure, "Gap per prompt variant (left; filled: data, open: "
                             "fitted model) and AF-reasoning rate in training (right)." + note))
    covs = [c for c in ctx.df.columns if c.startswith("x_")]
    for c in covs:
        per_model = ctx.df.groupby(ctx.df["model"].astype(str))[c].nunique(dropna=False)
        if (per_model > 1).any() or ctx.df[c].isna().all():
            continue
        ax = plot.gap_vs_covariate(res, ctx.df, c)
        how = ("the structural relation through θ" if c in res.design.covariates.columns else
               "a least-squares line per posterior draw (the fit did not use this covariate)")
        blocks.append(Figure(f"gap_vs_{c}", ax.figure, f"Predicted gap per model (94% HDI; open: observed) "
                             f"against the model covariate {c}, with {how}."))
    return Section(title, blocks)


@section("steering", order=50)
def _steering_section(ctx: Context) -> Section | None:
    from .design import UnknownVariantError, default_catalog
    from .steering_analysis import steering_analysis

    df = ctx.df
    if "steer_vector" not in df.columns or not (df["steer_vector"].astype(str) != "none").any():
        return None
    why = _not_fittable(ctx)
    if why:
        return Section("Steering", [Text(f"No steering analysis: {why}.")])
    steered = df[df["steer_vector"].astype(str) != "none"]
    variant = str(steered["variant"].astype(str).value_counts().index[0])
    catalog = ctx.options.get("catalog") or default_catalog()
    vectors = sorted(set(steered["steer_vector"].astype(str)))
    try:
        drivers = {v: catalog.vector(v).driver for v in vectors}
    except UnknownVariantError as e:
        return Section("Steering", [Text(f"No steering analysis: {str(e).splitlines()[0]}")])
    if all(d == "control" for d in drivers.values()):
        return Section("Steering", [Text(f"Only random-direction controls were applied ({', '.join(vectors)}): "
                                         "no driver vector to analyse.")])
    res = ctx.cache.get("rational")
    sa = ctx.cached("steering", lambda: steering_analysis(df, res, variant=variant))
    blocks = [Text(f"Steering on variant '{variant}': the gap and both tier rates against the coefficient α per "
                   "model, vector and layer. Points: data with 94% query-bootstrap intervals; lines and bands: "
                   "the fitted rational-agent model (94% HDI); grey: a random-direction control at matching "
                   "|α|. The specific effect of a vector is its value at α minus the matched random "
                   "control's (data: same layer and |α|, both signs pooled; model: per posterior draw).")]
    if res is None:
        blocks.append(Text("No rational-agent fit is available: data only."))
    blocks.append(Table("steering_specific_effects", sa.summary("gap").round(4),
                        "Specific effect of each vector on the gap (vector minus matched random control).", 60))
    blocks.append(Figure("steering_gap", plot.steering(sa, quantity="gap")[0, 0].figure,
                         "Compliance gap against the steering coefficient α."))
    blocks.append(Figure("steering_rates", plot.steering(sa, quantity=("rate_training", "rate_deployment"))[0, 0].figure,
                         "Compliance in training (blue) and deployment (orange) against α."))
    return Section("Steering", blocks)


@section("gap", order=20)
def _gap_section(ctx: Context) -> Section:
    import warnings

    from .models.gap import ComplianceGap
    from .results import ConvergenceWarning
    why = _not_fittable(ctx)
    if why:
        return Section("Hierarchical gap", [Text(f"Not fitted: {why}.")])
    o = ctx.options
    draws = int(o.get("draws", GAP_DRAWS))
    model = ComplianceGap(draws=draws, tune=o.get("tune", 1000), chains=o.get("chains", 2),
                          random_seed=o.get("random_seed", 0), sampler=o.get("sampler", "auto"),
                          progress=o.get("progress"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        res = ctx.cached("gap", lambda: model.fit(ctx.df))
    d = res.diagnostics()
    blocks = [Text("The hierarchical model (MODEL.md §1): per model × variant × steering condition a "
                   "deployment logit β and a logit gap γ, pooled across models (LKJ covariance), with "
                   "zero-sum query effects for difficulty and for the gap, so that queries count as a "
                   "sample. Rates and gaps are on the probability scale, averaged over each "
                   f"condition's observed queries; intervals are {res.hdi_prob:.0%} HDIs."),
              Text(f"Sampler {res.idata.attrs.get('sampler')}, {res.idata.attrs.get('chains')} chains × "
                   f"{res.idata.attrs.get('draws')} draws: max R-hat {d['r_hat'].max():.3f}, min bulk ESS "
                   f"{d['ess_bulk'].min():.0f}, min tail ESS {d['ess_tail'].min():.0f}, "
                   f"{res.divergences} divergence(s).")]
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            blocks.append(Text(f"**Warning:** {w.message}"))
    show = res.summary()
    for c in ("rate_training", "rate_deployment", "gap", "gap_lo", "gap_hi"):
        show[c] = show[c].round(3)
    blocks.append(Table("hierarchical_gap", show, "Compliance rates and gap per condition "
                        "(hierarchical model, posterior means and HDI)."))
    ax = plot.gaps(res)
    blocks.append(Figure("hierarchical_gap", ax.figure, "Per model: tier rates (left) and the gap with its "
                         "HDI (right), unsteered conditions; grey crosses: the papers' seed mean ± SEM."))
    ax = plot.ppc(res)
    blocks.append(Figure("gap_ppc", ax.figure, "Posterior predictive check: observed vs replicated pooled "
                         "gap per condition."))
    return Section("Hierarchical gap", blocks)


# ----------------------------------------------------------------------------- rendering
def _md_table(df: pd.DataFrame, max_rows: int) -> str:
    shown = df.head(max_rows)
    cols = [str(c) for c in shown.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in shown.itertuples(index=False):
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in row) + " |")
    if len(df) > max_rows:
        lines.append(f"\n*{max_rows} of {len(df)} rows shown; all in the CSV.*")
    return "\n".join(lines)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def build_report(df: pd.DataFrame, out, *, load_report=None, sections=None, title: str = "afdecomp report",
                 **options) -> Path:
    """Write the report folder and return the path of its ``index.md``.

    Parameters
    ----------
    df : DataFrame
        The tidy table.
    out : str or Path
        Folder to write (created if needed).
    load_report : LoadReport, optional
        Shown in the Data section.
    sections : list of str, optional
        Keys of the sections to include (default: all registered, in order).
    **options
        Passed to the sections through ``Context.options`` (e.g. ``draws=``).
    """
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    ctx = Context(df, out, load_report, options)
    keys = [k for k, _ in sorted(SECTIONS.items(), key=lambda kv: kv[1][0])]
    if sections is not None:
        unknown = set(sections) - set(SECTIONS)
        if unknown:
            raise ValueError(f"unknown report section(s) {sorted(unknown)}; known: {keys}")
        keys = [k for k in keys if k in sections]
    md = [f"# {title}\n"]
    body = [f"<h1>{html.escape(title)}</h1>"]
    for key in keys:
        sec = SECTIONS[key][1](ctx)
        if sec is None:
            continue
        md.append(f"\n## {sec.title}\n")
        body.append(f"<h2>{html.escape(sec.title)}</h2>")
        for b in sec.blocks:
            if isinstance(b, Text):
                md.append(b.markdown + "\n")
                body.append(f"<pre>{html.escape(b.markdown.strip('`'))}</pre>" if b.markdown.startswith("```")
                            else f"<p>{html.escape(b.markdown)}</p>")
            elif isinstance(b, Table):
                path = out / "tables" / f"{b.name}.csv"
                b.frame.to_csv(path, index=False)
                md.append(f"{b.caption} ([CSV](tables/{b.name}.csv))\n\n{_md_table(b.frame, b.max_rows)}\n")
                body.append(f"<p>{html.escape(b.caption)} (<a href='tables/{b.name}.csv'>CSV</a>)</p>"
                            + b.frame.head(b.max_rows).to_html(index=False, na_rep=""))
            elif isinstance(b, Figure):
                for ext in ("png", "pdf"):
                    b.figure.savefig(out / "figures" / f"{b.name}.{ext}", dpi=150, bbox_inches="tight")
                plt.close(b.figure)
                md.append(f"![{b.caption}](figures/{b.name}.png)\n\n*{b.caption}* "
                          f"([PDF](figures/{b.name}.pdf))\n")
                body.append(f"<figure><img src='figures/{b.name}.png' style='max-width:100%'>"
                            f"<figcaption>{html.escape(b.caption)}</figcaption></figure>")
    (out / "index.md").write_text("\n".join(md), encoding="utf-8")
    (out / "index.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>" + html.escape(title) + "</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;"
        "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}</style>" + "\n".join(body),
        encoding="utf-8")
    return out / "index.md"
