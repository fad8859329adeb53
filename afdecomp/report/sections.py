"""The report's sections and the fits they declare. Each section is a function
``Context -> Section | None`` registered with :func:`section`; the fits it names in ``needs``
are made (once) before it runs, so a section never depends on which other sections ran.
"""

from __future__ import annotations

import warnings

import pandas as pd

from .. import plot
from ..aggregate import aggregate
from ..models.baseline import rates, seed_sem_gap
from ._core import Caution, Context, Figure, FitRecord, Section, Table, Text, fit, run_fit, section

CI = 0.94  # the report's posterior intervals (ArviZ's default)
#: A figure's rows for the transcript browser: per model, scenario and variant, unsteered.
_UNSTEERED = {"by": ("model", "scenario", "variant"), "where": {"steer": "none"}}


# ----------------------------------------------------------------------------- fits
def _not_fittable(ctx: Context) -> str | None:
    """Why no model can be fitted to this table (None when one can): no labels, or no
    condition labelled in both tiers."""
    if not ctx.df["complied"].notna().any():
        return "no generation has a compliance label yet (label them first)"
    if ctx.gap_df.empty:
        return "no condition has labelled generations in both tiers, so there is no gap to model"
    return None


@fit("gap")
def _fit_gap(ctx: Context) -> FitRecord:
    why = _not_fittable(ctx)
    if why:
        return FitRecord("gap", why_not=why)
    return run_fit("gap", ctx, lambda: ctx.settings.gap().fit(ctx.gap_df))


@fit("rational")
def _fit_rational(ctx: Context) -> FitRecord:
    from ..design import UnknownVariantError, default_catalog
    from ..models.rational import identifiability

    why = _not_fittable(ctx)
    if why:
        return FitRecord("rational", why_not=why)
    catalog = ctx.options.get("catalog") or default_catalog()
    cells = ctx.cached("cells", lambda: aggregate(ctx.gap_df, warn=False))
    try:
        ident = identifiability(cells, catalog)
    except UnknownVariantError as e:
        return FitRecord("rational", why_not=str(e).split(":")[0] + ". Declare the variants' cues in a catalog "
                         "TOML file and pass `--catalog FILE`")
    if not ident.set_index("parameter").reindex(["V", "S", "g"])["identified"].fillna(False).any():
        return FitRecord("rational", why_not="the design identifies none of V, S, g (see the table)",
                         extra={"identifiability": ident})
    return run_fit("rational", ctx, lambda: ctx.settings.rational().fit(ctx.gap_df, catalog=catalog),
                   identifiability=ident)


def _cautions(rec: FitRecord) -> list:
    """The fit's warnings as report blocks saying what they mean and what to do."""
    from ..results import ConvergenceWarning
    out = []
    for w in rec.warnings:
        msg = str(w.message)
        if issubclass(w.category, ConvergenceWarning):
            out.append(Caution(msg.split(". Do not trust")[0],
                               "the chains have not mixed well enough for these numbers to be trusted; means and "
                               "intervals may still move by more than their printed precision.",
                               f"run the report again with more draws (e.g. `--draws {2 * _draws(rec)}`); "
                               "if divergences remain, the data may not inform some parameter."))
        elif "not identified" in msg:
            out.append(Caution(msg, "this design cannot tell the parameter apart from others; its posterior "
                               "is driven by the prior, so do not read its value or its share.",
                               "add prompt variants that move its cue (see the identifiability table)."))
        else:
            out.append(Caution(msg))
    return out


def _draws(rec: FitRecord) -> int:
    return int(rec.results.idata.attrs.get("draws", 1000)) if rec.results is not None else 1000


def _fit_line(rec: FitRecord) -> Text:
    r = rec.results
    a = r.idata.attrs
    took = f" in {rec.seconds:.0f} s" if rec.seconds else ""
    return Text(f"Fitted{took} ({a.get('sampler')}, {a.get('chains')} chains x {a.get('draws')} draws after "
                f"{a.get('tune')} tuning steps): {r.diagnostics_line()}.")


# ----------------------------------------------------------------------------- sections
@section("data", order=0)
def _data_section(ctx: Context) -> Section:
    df = ctx.df
    blocks = [Text(
        f"{len(df):,} generations from {df['model'].nunique()} model(s), "
        f"{df['variant'].nunique()} prompt variant(s), {df['query_id'].nunique()} queries, "
        f"{df['steer_vector'].nunique()} steering setting(s) (incl. none); "
        f"{int(df['complied'].isna().sum()):,} without a compliance label.")]
    if ctx.load_report is not None:
        blocks.append(Text("```\n" + str(ctx.load_report) + "\n```"))
    keys = ["model", "variant"] + (["steer_vector"] if df["steer_vector"].nunique() > 1 else [])
    counts = df.groupby(keys + ["condition"], observed=True)["complied"].agg(n="size", labelled="count")
    wide = counts["n"].unstack("condition", fill_value=0).astype(int)
    wide["labelled"] = counts["labelled"].groupby(level=keys, observed=True).sum().astype(int)
    wide = wide.reset_index()
    wide.columns.name = None
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
        blocks.append(Caution("no judge validation was given", "the judges' accuracy on this data is unmeasured, "
                              "so the labels' error rate is unknown.", "run `afdecomp validate-judge` and pass "
                              "`--judge-validation validation.json`."))
    return Section("Labels and judges", blocks)


def _source_of(judge: str, column: str) -> str:
    """What set ``column`` in a row whose ``judge`` is ``judge``: the entry ``task=spec (how)`` of
    a task filling that column, the decision ``tags``, or a reader's judge string."""
    if judge == "(none)":
        return "as read (no judge recorded)"
    from ..label.tasks import bundled_tasks
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
    title = "Compliance gaps (papers' estimator)"
    if not ctx.df["complied"].notna().any():  # e.g. unlabelled transcripts
        return Section(title, [Text(
            "No generation has a compliance label yet (label them first): no rate or gap to estimate.")])
    r = ctx.cached("rates", lambda: rates(ctx.df))
    if ctx.gap_df.empty:  # labels only in one tier (e.g. a partly judged sampler log): no gap yet
        return Section(title, [Text(
            f"No condition has labelled generations in both tiers "
            f"({int(ctx.df['complied'].isna().sum()):,} of {len(ctx.df):,} generations have no "
            "compliance label): label them with a judge to estimate gaps.")])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        t = ctx.cached("seed_sem_gap", lambda: seed_sem_gap(ctx.gap_df))
    blocks = [Text("The published estimator: per seed (`sample`), the compliance rate over "
                   "queries in training minus deployment; mean over seeds ± SEM, and a one-sample "
                   "t-test. Seeds are the only replicate here; queries are treated as fixed.")]
    if len(ctx.one_tier):
        blocks.append(Caution(
            f"{len(ctx.one_tier)} condition(s) have labelled generations in one tier only, so they have no gap "
            "and are left out of every gap and model in this report (their rates are still shown): "
            + "; ".join(" / ".join(map(str, row)) for row in ctx.one_tier.head(5).itertuples(index=False))
            + (" ..." if len(ctx.one_tier) > 5 else "") + ". Label the missing tier to include them."))
    blocks += [Caution(str(w.message)) for w in caught if issubclass(w.category, UserWarning)]
    show = t.copy()
    show["p_value"] = show["p_value"].map(lambda p: f"{p:.2g}")
    blocks.append(Table("seed_sem_gap", show, "Compliance rates and gap per condition (papers' estimator)."))
    ax = plot.seed_gaps(t)
    blocks.append(Figure("gap_per_model", ax.figure, "Compliance gap per model and prompt variant, "
                         "mean over seeds ± 1 SEM (unsteered conditions).", browse=_UNSTEERED))
    variant = "default" if "default" in set(ctx.df["variant"].astype(str)) else str(ctx.df["variant"].iloc[0])
    ax = plot.rates(r, variant=variant)
    blocks.append(Figure("rates_by_tier", ax.figure, f"Compliance rate per model in each tier, "
                         f"variant '{variant}' (unsteered), 95% Wilson intervals; one row per model and "
                         "scenario when there are several scenarios.",
                         browse={"by": ("model", "scenario"), "where": {"variant": variant, "steer": "none"},
                                 "split_tiers": ("training", "deployment")}))
    return Section(title, blocks)


@section("gap", order=20, needs=("gap",))
def _gap_section(ctx: Context) -> Section:
    title = "Hierarchical gap"
    rec = ctx.need("gap")
    if rec.results is None:
        return Section(title, [Text(f"Not fitted: {rec.why_not}.")])
    res = rec.results
    blocks = [Text("The hierarchical model (docs/gap.md): per model × variant × steering condition a "
                   "deployment logit β and a logit gap γ, pooled across models, with zero-sum query effects "
                   "for difficulty and for the gap, so that queries count as a sample. Rates and gaps are on "
                   "the probability scale, averaged over each condition's observed queries; intervals are "
                   f"{res.hdi_prob:.0%} HDIs."), _fit_line(rec)]
    blocks.extend(_cautions(rec))
    blocks.append(Table("hierarchical_gap", res.summary(), "Compliance rates and gap per condition "
                        "(hierarchical model, posterior means and HDI)."))
    ax = plot.gaps(res)
    blocks.append(Figure("hierarchical_gap", ax.figure, "Per model: tier rates (left) and the gap with its "
                         "HDI (right), unsteered conditions; grey crosses: the papers' seed mean ± SEM.",
                         browse=_UNSTEERED))
    ax = plot.ppc(res)
    blocks.append(Figure("gap_ppc", ax.figure, "Posterior predictive check: observed vs replicated pooled "
                         "gap per condition."))
    return Section(title, blocks)


def _af_labelled(ctx: Context) -> bool:
    df = ctx.gap_df
    return "af_reasoning" in df.columns and bool((df["af_reasoning"].notna() & df["complied"].fillna(False)).any())


#: The label each judge task of a validation corrects.
_TASK_LABEL = {"compliance": "complied", "af_reasoning": "af_reasoning"}


def _joint_judge(ctx: Context) -> dict:
    """The judge error to correct for: ``judge_error=`` given to the report; else the judge
    validations given (``--judge-validation``) of the compliance and AF-reasoning tasks, whose
    confusion counts become Beta priors on se and sp; else the one a simulated table states
    (:func:`afdecomp.simulate.stated_judge_error`)."""
    from ..models.judge_error import JudgeError
    from ..simulate import stated_judge_error
    given = ctx.options.get("judge_error")
    if given:
        return dict(given)
    out = {}
    for v in ctx.options.get("validations") or []:
        label = _TASK_LABEL.get(str(v.info.get("task")))
        if label is not None:
            out[label] = JudgeError.from_validation(v)
    return out or stated_judge_error(ctx.df)


@fit("joint_naive")
def _fit_joint_naive(ctx: Context) -> FitRecord:
    why = _not_fittable(ctx) or (None if _af_labelled(ctx) else "no complied generation has an AF-reasoning label")
    if why:
        return FitRecord("joint_naive", why_not=why)
    return run_fit("joint_naive", ctx, lambda: ctx.settings.joint().fit(ctx.gap_df))


@fit("joint")
def _fit_joint(ctx: Context) -> FitRecord:
    judge = _joint_judge(ctx)
    if not judge:
        return FitRecord("joint", why_not="no judge error stated (pass judge_error= to the report)")
    why = _not_fittable(ctx) or (None if _af_labelled(ctx) else "no complied generation has an AF-reasoning label")
    if why:
        return FitRecord("joint", why_not=why)
    return run_fit("joint", ctx, lambda: ctx.settings.joint().fit(ctx.gap_df, judge_error=judge))


@section("joint", order=25, needs=("joint_naive", "joint"))
def _joint_section(ctx: Context) -> Section | None:
    """Compliance and AF reasoning together (docs/joint.md); absent without AF labels."""
    if not ("af_reasoning" in ctx.df.columns and ctx.df["af_reasoning"].notna().any()):
        return None
    title = "Joint outcome: compliance and alignment-faking reasoning"
    naive_rec, rec = ctx.need("joint_naive"), ctx.need("joint")
    if naive_rec.results is None:
        return Section(title, [Text(f"Not fitted: {naive_rec.why_not}.")])
    naive = naive_rec.results
    res = rec.results or naive
    blocks = [Text("Compliance as in the hierarchical gap model and, given compliance, AF reasoning with its own "
                   "tier effect and pair/query structure (docs/joint.md). Per model and condition: the gap, "
                   "P(complied & AF reasoning) per tier and the share of the gap accompanied by AF reasoning, "
                   "[P(c & AF | training) − P(c & AF | deployment)] / gap, reported only where the gap's interval "
                   f"excludes 0. Intervals are {CI:.0%} HDIs (the share: equal-tailed).")]
    if rec.results is None:
        blocks.append(Text(f"Judge-corrected fit not made: {rec.why_not}; the estimates below take the labels "
                           "as the truth."))
    else:
        blocks.append(Text(f"Corrected estimates: {res.judge_note()}; naive estimates take the judged labels "
                           "as the truth. The judges are assumed to err independently given the true outcome."))
    for r, what in ((naive_rec, "Naive fit"), (rec, "Corrected fit")):
        if r.results is not None:
            blocks.append(Text(f"{what}: " + _fit_line(r).markdown))
            blocks.extend(_cautions(r))
    cols = ["gap", "gap_lo", "gap_hi", "af_rate_training", "af_rate_training_lo", "af_rate_training_hi",
            "af_rate_deployment", "af_rate_deployment_lo", "af_rate_deployment_hi", "af_share_of_gap",
            "af_share_of_gap_lo", "af_share_of_gap_hi"]
    table = res.summary(CI)[["model", "condition"] + cols]
    if rec.results is not None:
        nv = naive.summary(CI)
        for c in ("gap", "af_rate_training", "af_rate_deployment", "af_share_of_gap"):
            table[c + " (naive)"] = nv[c].to_numpy()
    blocks.append(Table("joint_outcome", table, "Per model and condition: the gap, the AF-reasoning rate per tier "
                        "and the AF share of the gap" + (", corrected for judge error, with the naive estimates "
                                                         "in the last columns." if rec.results is not None else ".")))
    conds = set(table["condition"])
    cond = "default" if "default" in conds else sorted(conds)[0]
    ax = plot.af_bars(res, cond, naive=naive if rec.results is not None else None, ci_prob=CI)
    blocks.append(Figure("af_bars", ax.figure, f"Each tier's behaviour on the {cond} prompt: refused, complied "
                         "without AF reasoning, complied with AF reasoning (hatched); error bars: HDIs of the "
                         "compliance and AF rates" + ("; red dashes: the naive (uncorrected) rates."
                                                      if rec.results is not None else "."), browse=_UNSTEERED))
    return Section(title, blocks)


@section("rational", order=30, needs=("rational", "gap"))
def _rational_section(ctx: Context) -> Section:
    title = "Rational-agent model"
    rec = ctx.need("rational")
    blocks = [Text("Our structural (expected-utility, logit-choice) model of the gap: values V, "
                   "sycophancy S and goal guarding g, moved by the prompt variants' cues and by steering "
                   "(docs/model.md). It is our formalisation, not a published model.")]
    ident = rec.extra.get("identifiability")
    if ident is not None:
        blocks.append(Table("rational_identifiability", ident, "What this design can identify (from the design alone)."))
    if rec.results is None:
        blocks.append(Text(f"Not fitted: {rec.why_not}."))
        return Section(title, blocks)
    res = rec.results
    blocks.append(_fit_line(rec))
    blocks.extend(_cautions(rec))
    blocks.append(Table("rational_parameters", res.summary(hdi_prob=CI),
                        f"Posterior mean, SD and {CI:.0%} HDI per model and parameter.", 80))
    blocks.append(Figure("rational_parameters", plot.rational_params(res, ci_prob=CI).figure,
                         f"Values V, sycophancy S and goal guarding g per model ({CI:.0%} HDI)."))
    blocks.append(Figure("gap_vs_values", plot.gap_vs_values(res, ci_prob=CI).figure,
                         "Theory check: predicted gap against V per model, each model's posterior V marked."))
    blocks.append(Table("rational_theory_checks", ctx.cached("theory_checks", res.theory_checks),
                        "Theory checks per model (docs/model.md)."))
    ppc = res.ppc(CI)
    inside = ((ppc["observed"] >= ppc["lo"]) & (ppc["observed"] <= ppc["hi"])).mean()
    blocks.append(Text(f"Posterior predictive check: {inside:.0%} of the {len(ppc)} observed gaps lie inside "
                       f"their {CI:.0%} predictive interval."))
    blocks.append(Table("rational_ppc", ppc, "Observed vs predicted gap per condition."))
    gap = ctx.need("gap").results
    if gap is not None:
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
    show = cmp[["elpd", "se", "p", "elpd_diff", "dse", "weight", "diag_elpd"]].copy()
    show.insert(0, "model", show.index)
    return [Text(f"PSIS-LOO against the unconstrained reduced-form gap model (`res.compare(gap)`): "
                 f"the {best} model has the higher expected log predictive density for held-out cells, by "
                 f"{diff:.1f} ± {dse:.1f} "
                 f"(with {cmp.loc['rational', 'p']:.0f} against {cmp.loc['reduced-form gap', 'p']:.0f} "
                 f"effective parameters), so {verdict}."),
            Table("rational_loo", show.reset_index(drop=True),
                  "PSIS-LOO comparison (ArviZ): expected log predictive density per model, "
                  "its difference to the best and the standard error of that difference.")]


@section("decomposition", order=40, needs=("rational",))
def _decomposition_section(ctx: Context) -> Section:
    from ..ablation import ablation_contrasts, af_reasoning_rates
    from ..models.decomposition import decompose

    title = "Decomposition"
    res = ctx.cache.get("rational")
    if res is None:
        return Section(title, [Text("Not computed: the decomposition reuses the rational-agent fit, which "
                                    "was not made for these data (see the rational-agent section).")])
    blocks = [Text("Each model's predicted gap under the full prompt, split among values, goal guarding and "
                   "sycophancy by Shapley values on the probability scale (docs/decomposition.md): a driver is switched "
                   "off by setting its cue to 0 (stakes unchanged), and its share is its average marginal "
                   "contribution over the orders of switching the drivers on. Shares plus the remainder "
                   "G(∅) equal the gap for every posterior draw; under the rational-agent model G(∅) = 0.")]
    ident = res.identifiability.set_index("parameter")["identified"]
    if not bool(ident.reindex(["S", "g"]).fillna(False).all()):
        blocks.append(Caution("this design does not separate S from g (see the identifiability table)",
                              "the split between sycophancy and goal guarding is driven by the priors.",
                              "add prompt variants that move the sycophancy and goal-guarding cues separately."))
    dec = ctx.cached("decomposition", lambda: decompose(res))
    blocks.append(Table("decomposition", ctx.cached("decomposition_summary", lambda: dec.summary(CI)),
                        f"Shapley shares per model (posterior mean, {CI:.0%} HDI)."))
    blocks.append(Figure("decomposition", plot.decomposition(dec, ci_prob=CI).figure,
                         "Shapley decomposition of each model's gap (rational-agent fit). Bars: posterior-mean "
                         f"shares; whiskers: {CI:.0%} HDI of each share; diamond: total gap with its {CI:.0%} HDI.",
                         browse={"by": ("model", "scenario"), "where": {"steer": "none"}}))
    variants = set(ctx.df["variant"].astype(str))
    if "default" in variants and len(variants) > 1:
        con = ctx.cached("ablation_contrasts", lambda: ablation_contrasts(ctx.gap_df, res))
        blocks.append(Text("The published view: gap(default) − gap(variant) per ablation. Data intervals are "
                           "94% percentile intervals of a bootstrap over queries, resampled within "
                           "model and paired across variants; model intervals are 94% HDIs of the fitted "
                           "rational-agent model."))
        blocks.append(Table("ablation_contrasts", con, "Gap per variant and contrast with the default "
                            "prompt, from data and from the fitted model.", 60))
        af = af_reasoning_rates(ctx.df)
        axes = plot.ablation_forest(con, af, ci_prob=CI)
        note = "" if af is not None else " The data carry no AF-reasoning labels, so the right panel is empty."
        blocks.append(Figure("ablation_forest", axes[0].figure, "Gap per prompt variant (left; filled: data, open: "
                             "fitted model) and AF-reasoning rate in training (right)." + note))
    covs = [c for c in ctx.df.columns if c.startswith("x_")]
    for c in covs:
        per_model = ctx.df.groupby(ctx.df["model"].astype(str))[c].nunique(dropna=False)
        if (per_model > 1).any() or ctx.df[c].isna().all():
            continue
        ax = plot.gap_vs_covariate(res, ctx.df, c, ci_prob=CI)
        how = ("the structural relation through θ" if c in res.design.covariates.columns else
               "a least-squares line per posterior draw (the fit did not use this covariate)")
        blocks.append(Figure(f"gap_vs_{c}", ax.figure, f"Predicted gap per model ({CI:.0%} HDI; open: observed) "
                             f"against the model covariate {c}, with {how}."))
    return Section(title, blocks)


@section("steering", order=50, needs=("rational",))
def _steering_section(ctx: Context) -> Section | None:
    from ..design import UnknownVariantError, default_catalog
    from ..steering_analysis import steering_analysis

    if "steer_vector" not in ctx.df.columns or not (ctx.df["steer_vector"].astype(str) != "none").any():
        return None
    why = _not_fittable(ctx)
    if why:
        return Section("Steering", [Text(f"No steering analysis: {why}.")])
    df = ctx.gap_df
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
    blocks.append(Table("steering_specific_effects", sa.summary("gap"),
                        "Specific effect of each vector on the gap (vector minus matched random control).", 60))
    blocks.append(Figure("steering_gap", plot.steering(sa, quantity="gap")[0, 0].figure,
                         "Compliance gap against the steering coefficient α.",
                         browse={"by": ("model", "steer"), "where": {"variant": variant}}))
    blocks.append(Figure("steering_rates", plot.steering(sa, quantity=("rate_training", "rate_deployment"))[0, 0].figure,
                         "Compliance in training (blue) and deployment (orange) against α."))
    return Section("Steering", blocks)
