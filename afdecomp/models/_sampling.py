"""One place that runs NUTS for every model of the package (backend choice, seeds, progress)."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from collections.abc import Callable

import numpy as np

SAMPLERS = ("auto", "nutpie", "pymc", "numpyro")

def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def default_sampler(n_cells: int = 0) -> str:
    """The NUTS backend ``sampler="auto"`` picks: nutpie when installed, else PyMC's own.

    Measured here with ``benchmarks/bench_fit.py`` (2 cores, load 1.3-4) on the paper-sized
    study (32,000 cells), after the gap model's reparameterisation: nutpie gave min bulk ESS
    484 in 132 s (3.7 ESS/s, R-hat 1.014), numpyro 326 in 104-110 s (3.0-3.1 ESS/s, R-hat
    1.010), and numpyro's first fit also pays for the JAX import and compile (a tiny study took
    39 s against ~12 s). PyMC's own NUTS is far slower on such models (> 900 s when it was tried early on).
    ``n_cells`` is accepted so that a size-dependent rule can return if a measurement calls
    for it. numpyro stays available with ``sampler="numpyro"`` (the ``[jax]`` extra).
    """
    return "nutpie" if installed("nutpie") else "pymc"


def sample(model, *, draws: int, tune: int, chains: int, random_seed=None, sampler: str = "auto",
           target_accept: float = 0.9, progress: bool | None = None, n_cells: int = 0,
           converged: Callable | None = None, max_chains: int | None = None):
    """Sample ``model`` with the chosen NUTS backend; returns InferenceData (a DataTree).

    ``converged``: a function of the DataTree that says whether its draws meet the convergence
    thresholds (R-hat, ESS) and gives their smallest ESS. When it says no, another batch of
    ``chains`` independent chains (new seeds, same compiled model, tuned afresh) is sampled and
    added along ``chain``, until it says yes, or the fit has ``max_chains`` chains (default
    ``3 × chains``), or the ESS scaled to ``max_chains`` chains could not reach
    ``afdecomp.results.ESS_MIN`` (a deliberately short fit is not extended). Independent chains
    pool without bias; each batch is what a user would otherwise rerun by hand with more draws.
    ``idata.attrs`` records the sampler, the wall time, the settings and the number of batches.
    """
    from ..results import ESS_MIN  # not at import: afdecomp.results imports this package

    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, not {sampler!r}")
    chosen = default_sampler(n_cells) if sampler == "auto" else sampler
    if chosen == "numpyro" and not (installed("numpyro") and installed("jax")):
        raise ImportError("sampler='numpyro' needs jax and numpyro: pip install 'afdecomp[jax]'")
    progress = bool(progress) if progress is not None else False
    max_chains = 3 * chains if max_chains is None else max(int(max_chains), chains)
    # PyMC draws nutpie's progress table with rich on stdout: in a log file it is printed once, cut
    # at 80 columns. There, one line before and one after say the same.
    bar = progress and sys.stdout.isatty()
    t0 = time.perf_counter()
    run = _batch_runner(model, chosen, draws=draws, tune=tune, chains=chains,
                        target_accept=target_accept, bar=bar)
    seeds = np.random.SeedSequence(random_seed).generate_state(max_chains // chains + 1)
    batches = []
    while True:
        if progress and not bar:
            print(f"sampling ({chosen}): {chains} chains x ({tune} tune + {draws} draws)"
                  + (f", batch {len(batches) + 1}" if batches else "") + " ...", file=sys.stderr, flush=True)
        batches.append(run(int(seeds[len(batches)])))
        idata = batches[0] if len(batches) == 1 else _concat_chains(batches)
        if converged is None or (len(batches) + 1) * chains > max_chains:
            break
        ok, ess = converged(idata)
        # ESS grows with the number of chains: stop when even max_chains could not reach it
        if ok or ess * max_chains / (len(batches) * chains) < ESS_MIN:
            break
        if progress:
            print(f"convergence thresholds not met with {len(batches) * chains} chains: sampling "
                  f"{chains} more", file=sys.stderr, flush=True)
    if progress and not bar:
        print(f"sampling done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    idata.attrs.update({"sampler": chosen, "sampling_seconds": time.perf_counter() - t0,
                        "draws": draws, "tune": tune, "chains": len(batches) * chains,
                        "batches": len(batches)})
    return idata


def _batch_runner(model, chosen: str, *, draws: int, tune: int, chains: int, target_accept: float,
                  bar: bool) -> Callable[[int], object]:
    """A function of a seed that samples one batch of chains (nutpie: compiled once for all)."""
    import pymc as pm

    if chosen != "nutpie":
        def run(seed: int):
            with model:
                return pm.sample(draws=draws, tune=tune, chains=chains, random_seed=seed,
                                 nuts_sampler=chosen, progressbar=bar, target_accept=target_accept,
                                 compute_convergence_checks=False, quiet=not bar)
        return run

    import nutpie
    from pymc.backends.arviz import patch_nutpie_idata
    compiled = nutpie.compile_pymc_model(model)
    cores = max(1, min(chains, os.cpu_count() or 1))

    def run(seed: int):
        t = time.perf_counter()
        idata = nutpie.sample(compiled, draws=draws, tune=max(tune, 1), chains=chains, cores=cores,
                              seed=seed, save_warmup=False, progress_bar=bar, target_accept=target_accept)
        patch_nutpie_idata(idata, model, sampling_time=time.perf_counter() - t)
        return idata
    return run


def _concat_chains(batches: list):
    """One DataTree whose chains are those of every batch (posterior and sample_stats)."""
    import xarray as xr

    out = batches[0].copy()
    for group in ("posterior", "sample_stats"):
        if group not in out.children:
            continue
        parts = [b[group].to_dataset() for b in batches]
        joined = xr.concat(parts, dim="chain", coords="minimal", compat="override", join="override")
        joined = joined.assign_coords(chain=np.arange(joined.sizes["chain"]))
        out[group] = xr.DataTree(dataset=joined)
    for group in [g for g in out.children if g.startswith("warmup")]:
        del out[group]
    return out
