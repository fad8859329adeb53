"""Coverage of the gap intervals under judge error: naive fit against the judge-corrected fit.

Each seed simulates a study with :func:`afdecomp.simulate` (true ``complied`` labels), passes
the labels through a judge with sensitivity 0.85 and specificity 0.90
(:func:`afdecomp.apply_judge_error`), and draws a 106-item validation set of the same judge
(51 positive, 55 negative items, the class balance of the published 106-item gold set):
``tp ~ Binomial(51, 0.85)``, ``tn ~ Binomial(55, 0.90)``, whose counts give
``JudgeError.from_counts`` (uniform priors). Two :class:`afdecomp.ComplianceGap` fits at the
default settings (4 chains × 1,000 tuning + 1,000 draws, nutpie) of the judged table:

* **naive**: ``fit(df)`` — estimates the judged rates;
* **corrected**: ``fit(df, judge_error={"complied": je})`` — the true rates.

* **truth** (``--methods truth``): ``fit`` of the true labels — the gap model's own coverage on
  this simulator, which the correction can at best restore.

(Each compiled once and refitted to each study's data, see :class:`Fitter`.)

For every model the check is whether the 94% HDI of the gap contains the simulation's true gap
(``truth.gaps``: the true rates averaged over the model's queries, the estimand of
``GapResults.summary``). Coverage over ``N`` checks has the Monte Carlo standard error
``sqrt(c·(1 − c)/N)``. Rows are appended to a CSV as each seed finishes (a run can be resumed
or extended with ``--start``), and ``--analyse`` prints the table.

    PYTHONPATH=. nice -n 19 python benchmarks/judge_error_coverage.py --seeds 25 --out reports/judge_error_coverage.csv
    PYTHONPATH=. nice -n 19 python benchmarks/judge_error_coverage.py --seeds 25 --methods truth --out reports/judge_error_coverage.csv
    PYTHONPATH=. python benchmarks/judge_error_coverage.py --analyse reports/judge_error_coverage.csv
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

import afdecomp as afd
from afdecomp.models import gap as G
from afdecomp.models.judge_error import judge_attrs
from afdecomp.results import ESS_MIN, RHAT_MAX, GapResults

#: naive: the judged labels as they are; corrected: with the validation's JudgeError; truth: the
#: true labels (the gap model's own coverage on this simulator, the best the correction can do).
METHODS = ("naive", "corrected")


@dataclass
class Setup:
    """The simulated study and judge of one coverage run."""

    n_models: int = 4
    n_queries: int = 30
    n_samples: int = 10
    se: float = 0.85
    sp: float = 0.90
    n_pos: int = 51          # validation items that are truly positive
    n_neg: int = 55          # ... truly negative
    draws: int = 1000
    tune: int = 1000
    chains: int = 4


def study(seed: int, setup: Setup):
    """One simulated study: the judged table, the truth, the validation counts' JudgeError, the true table."""
    df, truth = afd.simulate(n_models=setup.n_models, n_queries=setup.n_queries, n_samples=setup.n_samples,
                             seed=seed)
    rng = np.random.default_rng([seed, 16_001])
    judged = df.copy()
    judged["complied"] = afd.apply_judge_error(df["complied"], afd.JudgeError(setup.se, setup.sp), rng)
    tp = int(rng.binomial(setup.n_pos, setup.se))
    tn = int(rng.binomial(setup.n_neg, setup.sp))
    je = afd.JudgeError.from_counts(tp=tp, fn=setup.n_pos - tp, tn=tn, fp=setup.n_neg - tn)
    return judged, truth, je, df


class Fitter:
    """``ComplianceGap`` fits of one design, naive and corrected, each model compiled once.

    The model is :func:`afdecomp.models.gap.build_model` with ``shared=True`` (counts, centring
    weights and the judge's Beta parameters in ``pm.Data``), compiled by nutpie once and given
    each study's data with ``with_data`` — the model, structure rule, priors and sampler settings
    of ``ComplianceGap.fit`` (nutpie, target_accept 0.9, 4 chains × 1,000 + 1,000 by default),
    without its compile time per fit (as ``benchmarks/sbc_gap.py`` does). The draws then go
    through the same :func:`afdecomp.models.gap.attach` as a fit, giving a ``GapResults``.
    """

    def __init__(self, judged: pd.DataFrame, je, setup: Setup, methods=METHODS):
        import nutpie
        self.setup = setup
        self.d0 = G.design(G.as_cells(judged))
        st0 = G.structure(self.d0)
        self.grid = G._dense(self.d0)
        self.compiled = {}
        if {"naive", "truth"} & set(methods):  # the same model: judged labels, or the true ones
            self.compiled["naive"] = self.compiled["truth"] = nutpie.compile_pymc_model(
                G.build_model(self.d0, struct=st0, shared=True))
        if "corrected" in methods:
            self.compiled["corrected"] = nutpie.compile_pymc_model(
                G.build_model(self.d0, struct=st0, shared=True, judge_error=je))

    def fit(self, judged: pd.DataFrame, method: str, je, seed: int):
        import nutpie
        d = G.design(G.as_cells(judged))
        same = (len(d.cell_n) == len(self.d0.cell_n) and (d.cell_n == self.d0.cell_n).all()
                and (d.cell_pair == self.d0.cell_pair).all() and (d.cell_query == self.d0.cell_query).all())
        if not same:
            raise ValueError("the study's cells differ from the compiled design")
        st = G.structure(d)
        k = d.cell_k
        if self.grid is not None:
            lev = np.searchsorted(self.grid[0], d.cell_t)
            k = np.zeros_like(self.grid[2])
            np.add.at(k, (lev, d.cell_pair, d.cell_query), d.cell_k)
        data = {"k": k, "a_beta": st.a_beta, "a_gamma": st.a_gamma, "a_model": np.asarray(st.a_model, dtype=float),
                "a_u": np.asarray(st.a_u, dtype=float), "a_w": np.asarray(st.a_w, dtype=float)}
        judge = {}
        if method == "corrected":
            judge = {"complied": je}
            data["se_complied_ab"] = np.asarray(je.sensitivity_beta)
            data["sp_complied_ab"] = np.asarray(je.specificity_beta)
        compiled = self.compiled[method]
        known = {var.name for var in compiled.shared_var_keys}   # levels the design leaves out have no weight
        t0 = time.perf_counter()
        idata = nutpie.sample(compiled.with_data(**{k: v for k, v in data.items() if k in known}), draws=self.setup.draws, tune=self.setup.tune,
                              chains=self.setup.chains, cores=2, seed=seed, target_accept=0.9, progress_bar=False)
        seconds = time.perf_counter() - t0
        idata = G.attach(idata, d, hdi_prob=0.94, seed_table=None, random_seed=seed,
                         attrs={"sampler": "nutpie", "sampling_seconds": seconds, "label": "complied",
                                "judge_error": judge_attrs(judge)})
        return GapResults(idata, check=False), seconds


def one_seed(seed: int, setup: Setup, fitter: Fitter | None = None, methods=METHODS) -> pd.DataFrame:
    """Simulate, judge, fit naive and corrected (and, asked, the true labels); one row per model and method."""
    judged, truth, je, true_df = study(seed, setup)
    fitter = fitter or Fitter(judged, je, setup, methods)
    true_gap = truth.gaps.set_index("model")["gap"]
    rows = []
    for method in methods:
        res, seconds = fitter.fit(true_df if method == "truth" else judged, method, je, seed)
        if method == "corrected":
            assert res.judge_error == {"complied": je}
        d = res.diagnostics()
        s = res.summary()
        observed = res.ppc().set_index("model")["observed"]
        for r in s.itertuples():
            g = float(true_gap[r.model])
            rows.append({"seed": seed, "method": method, "model": r.model, "true_gap": g, "gap": r.gap,
                         "gap_lo": r.gap_lo, "gap_hi": r.gap_hi, "covered": bool(r.gap_lo <= g <= r.gap_hi),
                         "observed_gap": float(observed[r.model]), "tp": je.source["tp"], "tn": je.source["tn"],
                         "max_rhat": float(d["r_hat"].max()),
                         "min_ess": float(min(d["ess_bulk"].min(), d["ess_tail"].min())),
                         "divergences": int(res.divergences), "seconds": seconds})
    return pd.DataFrame(rows)


def analyse(table: pd.DataFrame) -> pd.DataFrame:
    """Per method: checks, coverage and its Monte Carlo SE, mean error and width, convergence.

    ``mc_se`` is ``sqrt(c(1 − c)/N)`` over the N interval checks, which treats them as
    independent; the checks of one study share its validation draw (and its sampler run), so
    ``mc_se_by_seed`` — the standard error of the mean of the per-study coverages — is the
    honest one when they are correlated.
    """
    out = []
    for method, g in table.groupby("method", sort=False):
        c = g["covered"].mean()
        n = len(g)
        fits = g.drop_duplicates("seed")
        per_seed = g.groupby("seed")["covered"].mean()
        out.append({"method": method, "seeds": g["seed"].nunique(), "checks": n, "coverage": c,
                    "mc_se": float(np.sqrt(c * (1 - c) / n)),
                    "mc_se_by_seed": float(per_seed.std(ddof=1) / np.sqrt(len(per_seed))),
                    "mean_error": float((g["gap"] - g["true_gap"]).mean()),
                    "mean_abs_error": float((g["gap"] - g["true_gap"]).abs().mean()),
                    "mean_width": float((g["gap_hi"] - g["gap_lo"]).mean()),
                    "fits_not_converged": int(((fits["max_rhat"] > RHAT_MAX) | (fits["min_ess"] < ESS_MIN)
                                               | (fits["divergences"] > 0)).sum()),
                    "median_sampling_seconds": float(fits["seconds"].median())})
    return pd.DataFrame(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=25, help="number of simulated studies")
    ap.add_argument("--start", type=int, default=0, help="first seed")
    ap.add_argument("--out", type=Path, default=Path("reports/judge_error_coverage.csv"))
    ap.add_argument("--analyse", type=Path, help="print the table of a finished (or partial) run")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated: naive, corrected, truth")
    for f, v in asdict(Setup()).items():
        ap.add_argument(f"--{f.replace('_', '-')}", type=type(v), default=v)
    a = ap.parse_args(argv)
    if a.analyse:
        print(analyse(pd.read_csv(a.analyse)).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        return 0
    setup = Setup(**{f: getattr(a, f) for f in asdict(Setup())})
    print(f"setup: {setup}", flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    methods = tuple(a.methods.split(","))
    judged0, _, je0, _ = study(a.start, setup)
    fitter = Fitter(judged0, je0, setup, methods)
    print(f"compiled in {time.perf_counter() - t0:.0f} s", flush=True)
    for seed in range(a.start, a.start + a.seeds):
        rows = one_seed(seed, setup, fitter, methods)
        rows.to_csv(a.out, mode="a", header=not a.out.exists(), index=False)
        print(f"seed {seed}: " + ", ".join(f"{m} {g['covered'].sum()}/{len(g)} covered"
                                           for m, g in rows.groupby("method", sort=False))
              + f"; {time.perf_counter() - t0:.0f} s so far", flush=True)
    print(analyse(pd.read_csv(a.out)).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
