"""The one adapter between afdecomp and ArviZ/xarray's DataTree (ArviZ 1.x).

Every ``az.*`` call of the package lives here, so that an ArviZ API change (0.x -> 1.x moved
``InferenceData`` to ``xarray.DataTree``, renamed ``hdi_prob`` to ``prob``/``ci_prob`` and made
diagnostics return DataTrees) is fixed in one place. Functions take and return numpy arrays,
pandas tables and DataTrees only.
"""

from __future__ import annotations

from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr


def hdi(samples: np.ndarray, prob: float = 0.94) -> tuple[np.ndarray, np.ndarray]:
    """Highest-density interval along the last axis of ``samples``; returns (lo, hi)."""
    samples = np.asarray(samples, dtype=float)
    flat = samples.reshape(-1, samples.shape[-1])
    out = np.asarray(az.hdi(flat, prob=prob))  # numpy input: reduces the last axis
    lo = out[:, 0].reshape(samples.shape[:-1])
    hi = out[:, 1].reshape(samples.shape[:-1])
    return lo, hi


def posterior(idata, name: str, group: str = "posterior") -> np.ndarray:
    """A variable of a group as a numpy array (chain, draw, ...)."""
    return np.asarray(idata[group][name].values)


def group(idata, name: str) -> xr.Dataset:
    """A group of the DataTree as an xarray Dataset."""
    return idata[name].to_dataset()


def has_group(idata, name: str) -> bool:
    return name in idata.children


def set_group(idata, name: str, ds: xr.Dataset) -> None:
    """Add (or replace) a group of the DataTree from a Dataset."""
    idata[name] = xr.DataTree(dataset=ds)


def diagnostics(idata, var_names: list[str]) -> pd.DataFrame:
    """R-hat (rank-normalised), bulk and tail ESS for every element of ``var_names``.

    Returns a DataFrame with columns ``parameter`` (e.g. ``gamma[3]``), ``r_hat``,
    ``ess_bulk``, ``ess_tail``.
    """
    rows = []
    for name in var_names:
        x = posterior(idata, name)
        chains, draws = x.shape[:2]
        flat = x.reshape(chains, draws, -1)
        rhat = np.atleast_1d(np.asarray(az.rhat(flat, chain_axis=0, draw_axis=1)))
        bulk = np.atleast_1d(np.asarray(az.ess(flat, method="bulk", chain_axis=0, draw_axis=1)))
        tail = np.atleast_1d(np.asarray(az.ess(flat, method="tail", prob=0.05, chain_axis=0, draw_axis=1)))
        shape = x.shape[2:]
        for j in range(flat.shape[-1]):
            idx = np.unravel_index(j, shape) if shape else ()
            label = name + (f"[{','.join(map(str, idx))}]" if shape else "")
            rows.append((label, float(rhat[j]), float(bulk[j]), float(tail[j])))
    return pd.DataFrame(rows, columns=["parameter", "r_hat", "ess_bulk", "ess_tail"])


def divergences(idata) -> int:
    """Number of divergent transitions after tuning (0 when the sampler does not record them)."""
    if not has_group(idata, "sample_stats") or "diverging" not in idata["sample_stats"]:
        return 0
    return int(np.asarray(idata["sample_stats"]["diverging"].values).sum())


def to_netcdf(idata, path) -> Path:
    """Write the DataTree to NetCDF (h5netcdf engine)."""
    path = Path(path)
    idata.to_netcdf(path, engine="h5netcdf")
    return path


def from_netcdf(path):
    """Read a DataTree written by :func:`to_netcdf` fully into memory."""
    dt = az.from_netcdf(Path(path), engine="h5netcdf")
    return dt.load()


def compare(fits: dict) -> pd.DataFrame:
    """PSIS-LOO comparison (``arviz.compare``) of fits with a ``log_likelihood`` group.

    Returns the comparison table (rank, elpd, p, elpd_diff, weight, se, dse, warning, ...)
    indexed by fit name, best first.
    """
    for name, dt in fits.items():
        if not has_group(dt, "log_likelihood"):
            raise ValueError(f"fit {name!r} has no log_likelihood group; refit with log_likelihood")
    sizes = {name: int(np.prod([s for d, s in dt["log_likelihood"].to_dataset().sizes.items()
                                if d not in ("chain", "draw")])) for name, dt in fits.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"fits have different numbers of observations (cells): {sizes}; "
                         "compare fits made on the same data")
    observed = {name: np.asarray(dt["observed_data"]["k"].values) for name, dt in fits.items()
                if has_group(dt, "observed_data") and "k" in dt["observed_data"]}
    first = next(iter(observed.items()), None)
    for name, k in observed.items():
        if first is not None and not np.array_equal(k, first[1]):
            raise ValueError(f"fits {first[0]!r} and {name!r} were not made on the same cells "
                             "(their observed counts differ); compare fits of the same data")
    out = az.compare(fits, round_to="none")  # raw numbers; "auto" rounds elpd to its SE
    return pd.DataFrame(out)
