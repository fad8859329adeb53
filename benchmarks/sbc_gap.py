"""Simulation-based calibration of the hierarchical gap model (Talts et al. 2018, arXiv:1804.06788).

Each replicate draws every parameter of ``afdecomp.ComplianceGap``'s model from its prior (PyMC's
prior predictive of the model built on a fixed study design), simulates binomial counts ``k`` on
that design, fits the model at its default settings (4 chains × 300 tuning + 1,000 draws,
nutpie, the target_accept of :func:`afdecomp.models.gap.default_target_accept`, the
data-chosen structure and centring weights of :func:`afdecomp.models.gap.structure`) and records the rank of each true value among ``L``
thinned posterior draws. If the fit is calibrated, every rank is uniform on ``0..L``.

Checked quantities: the probability-scale gap of every pair (averaged over its queries, the
estimand ``GapResults.summary`` reports), the setting means ``mu``, the pair scales
``chol_stds``, the model-deviation scales ``tau_model`` and the query scales ``sigma_u``,
``sigma_w``. Test: Pearson's chi-square of the ranks in ``B`` equal bins against the uniform
(``B - 1`` degrees of freedom), one per quantity; with ``m`` quantities a family-wise level
``alpha`` gives a per-quantity threshold ``alpha / m`` (Bonferroni).

The model is compiled once and refitted to each replicate's counts and weights
(``build_model(..., shared=True)`` and nutpie's ``with_data``): the same model and sampler
settings as ``ComplianceGap.fit``, without paying the compile time per replicate.

    PYTHONPATH=. python benchmarks/sbc_gap.py --replicates 200 --out reports/sbc_gap
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

import afdecomp as afd
from afdecomp.models import gap as G

#: Hyper-parameters whose ranks are checked (every element), besides the per-pair gaps.
HYPER = ("mu", "chol_stds", "tau_model", "sigma_u", "sigma_w")


@dataclass
class Study:
    """The fixed design of the calibration study."""

    n_models: int = 4
    n_variants: int = 2
    n_queries: int = 20
    n_samples: int = 3


def design_of(study: Study) -> G.Design:
    """The design (cells, pairs, queries) of a simulated study; its counts are replaced later."""
    from afdecomp.simulate import PUBLISHED_VARIANTS
    df, _ = afd.simulate(n_models=study.n_models, n_queries=study.n_queries, n_samples=study.n_samples,
                         variants=list(PUBLISHED_VARIANTS[:study.n_variants]), seed=0)
    return G.design(G.as_cells(df))


def prior_draws(d: G.Design, n: int, seed: int) -> dict[str, np.ndarray]:
    """``n`` joint draws of the model's parameters from its prior (the Potential is ignored)."""
    import warnings

    import pymc as pm
    model = G.build_model(d)
    names = [v for v in ("mu", "chol_stds", "tau_model", "sigma_u", "sigma_w", "beta", "gamma", "u", "w")
             if v in model.named_vars]
    with model, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Potentials are ignored in prior predictive sampling"
        prior = pm.sample_prior_predictive(draws=n, var_names=names, random_seed=seed)
    post = prior["prior"]
    return {v: np.asarray(post[v].values)[0] for v in names}


def true_gap(d: G.Design, beta, gamma, u, w) -> np.ndarray:
    """The probability-scale gap per pair of one parameter draw (as ``GapResults.summary``)."""
    pq = np.unique(np.stack([d.cell_pair, d.cell_query], axis=1), axis=0)
    rt, rd = G.derived_draws(beta[None], gamma[None], u[None], w[None], pq[:, 0], pq[:, 1], len(d.pairs))
    return (rt - rd)[0]


def simulate_counts(d: G.Design, beta, gamma, u, w, rng) -> np.ndarray:
    eta = beta[d.cell_pair] + u[d.cell_query] + d.cell_t * (gamma[d.cell_pair] + w[d.cell_query])
    return rng.binomial(d.cell_n, 1.0 / (1.0 + np.exp(-eta)))


def ranks(draws: np.ndarray, truth: np.ndarray, L: int) -> np.ndarray:
    """Rank of ``truth`` among ``L`` evenly thinned draws (``draws``: (S, ...)); values in 0..L."""
    idx = np.linspace(0, draws.shape[0] - 1, L).round().astype(int)
    return (draws[idx] < truth[None]).sum(axis=0)


def chi2_uniform(r: np.ndarray, L: int, bins: int) -> tuple[float, float, np.ndarray]:
    """Pearson chi-square of ranks ``r`` (values 0..L) against the uniform, in ``bins`` equal bins.

    ``L + 1`` must be a multiple of ``bins``. Returns (statistic, p-value, counts).
    """
    if (L + 1) % bins:
        raise ValueError(f"L + 1 = {L + 1} is not a multiple of bins = {bins}")
    counts = np.bincount(np.asarray(r, dtype=int) // ((L + 1) // bins), minlength=bins)
    res = stats.chisquare(counts)
    return float(res.statistic), float(res.pvalue), counts


def _flat_posterior(idata, name: str) -> np.ndarray:
    x = np.asarray(idata.posterior[name].values)
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def run(study: Study, replicates: int, seed: int = 0, L: int = 99, draws: int = 1000, tune: int = 300,
        chains: int = 4, cores: int = 2, progress=sys.stderr, save: Path | None = None) -> pd.DataFrame:
    """Run the calibration; one row per replicate × checked quantity (rank, and fit diagnostics).

    ``save``: write the table so far to this CSV after every replicate (a long run can be
    stopped and analysed with ``--analyse``).
    """
    import nutpie
    from tqdm import tqdm

    from afdecomp import _arviz
    d0 = design_of(study)
    st0 = G.structure(d0)
    compiled = nutpie.compile_pymc_model(G.build_model(d0, struct=st0, shared=True))
    used = {var.name for var in compiled.shared_var_keys}   # the structure's weights (a crossed grid has no a_beta)
    grid = G._dense(d0)
    truth = prior_draws(d0, replicates, seed)
    rng = np.random.default_rng([seed, 1])
    rows = []
    for i in tqdm(range(replicates), file=progress, desc="SBC replicates"):
        par = {k: v[i] for k, v in truth.items()}
        k = simulate_counts(d0, par["beta"], par["gamma"], par["u"], par["w"], rng)
        d = replace(d0, cell_k=k)
        st = G.structure(d)
        k_model = k
        if grid is not None:
            lev = np.searchsorted(grid[0], d.cell_t)
            k_model = np.zeros_like(grid[2])
            np.add.at(k_model, (lev, d.cell_pair, d.cell_query), k)
        model = compiled.with_data(k=k_model, **{k: v for k, v in G.weight_values(st).items() if k in used})
        t0 = time.perf_counter()
        idata = nutpie.sample(model, draws=draws, tune=tune, chains=chains, cores=cores, seed=seed * 100_003 + i,
                              target_accept=G.default_target_accept(st), progress_bar=False)
        secs = time.perf_counter() - t0
        post = idata.posterior
        checked = [v for v in G_CHECKED if v in post]
        diag = _arviz.diagnostics(idata, checked)
        div = int(np.asarray(idata.sample_stats["diverging"].values).sum())
        common = {"replicate": i, "seconds": secs, "max_rhat": float(diag["r_hat"].max()),
                  "min_ess_bulk": float(diag["ess_bulk"].min()), "min_ess_tail": float(diag["ess_tail"].min()),
                  "divergences": div}
        beta, gamma = _flat_posterior(idata, "beta"), _flat_posterior(idata, "gamma")
        S = beta.shape[0]
        Q = len(d0.queries)
        u = _flat_posterior(idata, "u") if "u" in post else np.zeros((S, Q))
        w = _flat_posterior(idata, "w") if "w" in post else np.zeros((S, Q))
        pq = np.unique(np.stack([d0.cell_pair, d0.cell_query], axis=1), axis=0)
        rt, rd = G.derived_draws(beta, gamma, u, w, pq[:, 0], pq[:, 1], len(d0.pairs))
        g_true = true_gap(d0, par["beta"], par["gamma"], par["u"], par["w"])
        for p, r in enumerate(ranks(rt - rd, g_true, L)):
            rows.append({**common, "quantity": f"gap[{p}]", "rank": int(r)})
        for name in HYPER:
            if name not in post:
                continue
            r = ranks(_flat_posterior(idata, name), np.asarray(par[name]), L)
            for j, rj in enumerate(np.atleast_1d(r).ravel()):
                rows.append({**common, "quantity": f"{name}[{j}]" if np.ndim(r) else name, "rank": int(rj)})
        if save is not None:
            pd.DataFrame(rows).to_csv(save, index=False)
    return pd.DataFrame(rows)


#: The sampled parameters whose R-hat and ESS are recorded per replicate (as GapResults checks).
G_CHECKED = ("mu", "chol_stds", "tau_model", "delta_midpoint", "delta_gamma", "beta", "gamma", "sigma_u",
             "sigma_w", "u", "w")


def readable(quantity: str) -> str:
    """A quantity's name with its parameter spelled out (``mu[3]`` -> ``mu[setting 1, γ]``)."""
    import re
    m = re.fullmatch(r"(mu|chol_stds|tau_model)\[(\d+)\]", quantity)
    if not m:
        return quantity
    j, par = int(m.group(2)), "bγ"[int(m.group(2)) % 2]   # b: the midpoint logit
    return {"mu": f"mu[setting {j // 2}, {par}]", "chol_stds": f"pair scale τ_{par}",
            "tau_model": f"model scale τ_model,{par}"}[m.group(1)]


def uniformity(table: pd.DataFrame, L: int = 99, bins: int = 10, alpha: float = 0.05) -> pd.DataFrame:
    """Chi-square per quantity, plus all gaps pooled; ``uniform`` at the Bonferroni threshold."""
    out = []
    groups = list(table.groupby("quantity", sort=False))
    groups.append(("gap (all pairs pooled)", table[table["quantity"].str.startswith("gap[")]))
    m = len(groups)
    for q, g in groups:
        x2, p, counts = chi2_uniform(g["rank"].to_numpy(), L, bins)
        out.append({"quantity": q, "n": len(g), "chi2": x2, "p": p, "uniform": p >= alpha / m,
                    "counts": " ".join(map(str, counts))})
    return pd.DataFrame(out)


def histogram_figure(table: pd.DataFrame, path: Path, L: int = 99, bins: int = 10) -> None:
    """Rank histograms: one panel per quantity, with the 99% band of a uniform bin count."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    qs = list(dict.fromkeys(table["quantity"]))
    hyper = [q for q in qs if not q.startswith("gap[")]
    panels = ["gap (all pairs pooled)"] + hyper
    cols = 4
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    for ax, q in zip(axes.ravel(), panels, strict=False):  # more axes than panels: spare ones hidden
        g = table[table["quantity"].str.startswith("gap[")] if q.startswith("gap (") else table[table["quantity"] == q]
        n = len(g)
        counts = np.bincount(g["rank"].to_numpy() // ((L + 1) // bins), minlength=bins)
        lo, hi = stats.binom.ppf([0.005, 0.995], n, 1 / bins)
        ax.axhspan(lo, hi, color="0.85", label="99% band (uniform)")
        ax.bar(np.arange(bins), counts, width=0.9, color="tab:blue")
        ax.axhline(n / bins, color="0.3", lw=0.8)
        ax.set_title(q, fontsize=9)
        ax.set_xticks([0, bins - 1], ["low", "high"], fontsize=8)
        ax.tick_params(labelsize=8)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("replicates per rank bin", fontsize=8)
    fig.suptitle(f"SBC rank histograms, ComplianceGap ({table['replicate'].nunique()} prior draws, "
                 f"ranks among {L} posterior draws)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", type=int, default=Study.n_models)
    ap.add_argument("--variants", type=int, default=Study.n_variants)
    ap.add_argument("--queries", type=int, default=Study.n_queries)
    ap.add_argument("--samples", type=int, default=Study.n_samples)
    ap.add_argument("--out", type=Path, default=Path("reports/sbc_gap"))
    ap.add_argument("--figure", type=Path, default=None, help="rank histogram PNG (default: OUT/sbc_ranks.png)")
    ap.add_argument("--analyse", action="store_true", help="only analyse OUT/ranks.csv of an earlier run")
    a = ap.parse_args(argv)
    study = Study(a.models, a.variants, a.queries, a.samples)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if a.analyse:
        table = pd.read_csv(a.out / "ranks.csv")
    else:
        table = run(study, a.replicates, seed=a.seed, save=a.out / "ranks.csv")
    table["quantity"] = table["quantity"].map(readable)
    res = uniformity(table)
    fig = a.figure or a.out / "sbc_ranks.png"
    histogram_figure(table, fig)
    per = table.drop_duplicates("replicate")
    summary = {"study": study.__dict__, "replicates": int(per["replicate"].nunique()),
               "minutes_of_this_command": (time.perf_counter() - t0) / 60,
               "fit_seconds_median": float(per["seconds"].median()),
               "fits_with_divergences": int((per["divergences"] > 0).sum()),
               "fits_rhat_over_1.01": int((per["max_rhat"] > 1.01).sum()),
               "fits_ess_bulk_under_400": int((per["min_ess_bulk"] < 400).sum()),
               "fits_ess_tail_under_400": int((per["min_ess_tail"] < 400).sum())}
    (a.out / "summary.json").write_text(json.dumps(summary, indent=1))
    with pd.option_context("display.width", 160, "display.max_rows", 200):
        print(res.round(4).to_string(index=False))
    print(json.dumps(summary, indent=1))
    print(f"all uniform at family-wise 5% (Bonferroni over {len(res)}): {bool(res['uniform'].all())}; figure {fig}")


if __name__ == "__main__":
    main()
