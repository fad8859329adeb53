"""One place that runs NUTS for every model of the package (backend choice, seeds, progress)."""

from __future__ import annotations

import importlib.util
import sys
import time

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
           target_accept: float = 0.9, progress: bool | None = None, n_cells: int = 0):
    """Sample ``model`` with the chosen NUTS backend; returns InferenceData (a DataTree).

    ``idata.attrs`` records the sampler, the wall time and the settings.
    """
    import pymc as pm

    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {SAMPLERS}, not {sampler!r}")
    chosen = default_sampler(n_cells) if sampler == "auto" else sampler
    if chosen == "numpyro" and not (installed("numpyro") and installed("jax")):
        raise ImportError("sampler='numpyro' needs jax and numpyro: pip install 'afdecomp[jax]'")
    progress = bool(progress) if progress is not None else False
    # PyMC draws nutpie's progress table with rich on stdout: in a log file it is printed once, cut
    # at 80 columns. There, one line before and one after say the same.
    bar = progress and sys.stdout.isatty()
    if progress and not bar:
        print(f"sampling ({chosen}): {chains} chains x ({tune} tune + {draws} draws) ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    with model:
        idata = pm.sample(draws=draws, tune=tune, chains=chains, random_seed=random_seed,
                          nuts_sampler=chosen, progressbar=bar, target_accept=target_accept,
                          compute_convergence_checks=False, quiet=not bar)
    if progress and not bar:
        print(f"sampling done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    idata.attrs.update({"sampler": chosen, "sampling_seconds": time.perf_counter() - t0,
                        "draws": draws, "tune": tune, "chains": chains})
    return idata
