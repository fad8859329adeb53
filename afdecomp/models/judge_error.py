"""Judge error: a judge's sensitivity and specificity, and estimates of true rates through it.

A judge with sensitivity ``se`` (P(judged positive | truly positive)) and specificity ``sp``
(P(judged negative | truly negative)) turns a true rate ``p`` into the observed rate::

    q = se·p + (1 − sp)·(1 − p) = (1 − sp) + (se + sp − 1)·p

so every difference of rates — the compliance gap among them — is shrunk by ``se + sp − 1``,
and the intercept moves toward ``1 − sp``. A fit that ignores it estimates ``q``, not ``p``.
Given a :class:`JudgeError`, the cell models put this channel into the likelihood (the counts
are binomial with rate ``q``; :func:`afdecomp.models._loglik.observed_log_probs`) and report
the true rates. ``se`` and ``sp`` are either fixed numbers or Beta distributions, typically the
posterior from a validation set's confusion counts (:meth:`JudgeError.from_counts`,
:meth:`JudgeError.from_validation`), whose uncertainty then widens the intervals.

A judge with ``se + sp ≤ 1`` is refused: at ``se + sp = 1`` its labels are independent of the
truth (the observed rate carries no information about ``p``), below it they are inverted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._loglik import binomial_potential, judged_binomial_potential

__all__ = ["JudgeError", "apply_judge_error", "judge_rates", "judged_potential", "resolve_judge_error"]


def _check_rate(name: str, x) -> float:
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number in [0, 1], got {x!r}") from None
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {x}")
    return x


def _refuse(se_mean: float, sp_mean: float, what: str) -> None:
    if se_mean + sp_mean <= 1.0:
        raise ValueError(
            f"{what}: sensitivity + specificity = {se_mean:.3f} + {sp_mean:.3f} = {se_mean + sp_mean:.3f} <= 1. "
            "Such a judge's labels carry no information about the truth (at 1 the observed rate "
            "(1 - sp) + (se + sp - 1)·p does not depend on the true rate p) or invert it (below 1); "
            "a correction would divide by se + sp - 1 <= 0. Check the judge's threshold and the "
            "direction of its labels.")


@dataclass(frozen=True)
class JudgeError:
    """A judge's sensitivity and specificity: fixed numbers, or Beta distributions.

    Parameters
    ----------
    sensitivity, specificity : float
        Fixed values in [0, 1] (point masses), e.g. ``JudgeError(sensitivity=0.9,
        specificity=0.95)``. For Beta distributions use :meth:`from_counts` or
        :meth:`from_validation` (then these are the distributions' means).
    sensitivity_beta, specificity_beta : (float, float), optional
        Beta(a, b) distribution of each; ``None`` = the fixed value.
    source : dict, optional
        Where the numbers come from (recorded with every fit that uses them).

    Raises
    ------
    ValueError
        When ``sensitivity + specificity <= 1`` (for Beta distributions: their means).

    Examples
    --------
    >>> je = JudgeError.from_counts(tp=45, fn=6, tn=50, fp=5)
    >>> round(je.sensitivity, 3), je.sensitivity_beta
    (0.868, (46.0, 7.0))
    """

    sensitivity: float
    specificity: float
    sensitivity_beta: tuple[float, float] | None = None
    specificity_beta: tuple[float, float] | None = None
    source: dict = field(default_factory=dict, compare=False)

    def __post_init__(self):
        for name in ("sensitivity_beta", "specificity_beta"):
            ab = getattr(self, name)
            if ab is not None:
                a, b = (float(x) for x in ab)
                if not (a > 0 and b > 0 and np.isfinite(a) and np.isfinite(b)):
                    raise ValueError(f"{name} must be two positive numbers (a, b), got {ab!r}")
                object.__setattr__(self, name, (a, b))
                object.__setattr__(self, name.removesuffix("_beta"), a / (a + b))
        se = _check_rate("sensitivity", self.sensitivity)
        sp = _check_rate("specificity", self.specificity)
        object.__setattr__(self, "sensitivity", se)
        object.__setattr__(self, "specificity", sp)
        object.__setattr__(self, "source", dict(self.source))
        _refuse(se, sp, "JudgeError" if self.is_fixed else "JudgeError (means of the Beta distributions)")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_counts(cls, tp: int, fn: int, tn: int, fp: int, prior: tuple[float, float] = (1.0, 1.0),
                    source: dict | None = None) -> JudgeError:
        """Beta posteriors of ``se`` and ``sp`` from a validation set's confusion counts.

        ``se ~ Beta(tp + a, fn + b)`` and ``sp ~ Beta(tn + a, fp + b)`` with ``prior = (a, b)``
        (default uniform): the conjugate posterior of a binomial rate.

        Parameters
        ----------
        tp, fn : int
            Truly positive items the judge called positive / negative.
        tn, fp : int
            Truly negative items the judge called negative / positive.
        prior : (float, float)
            Beta(a, b) prior of each rate.
        source : dict, optional
            Extra provenance (recorded with the fits).

        Raises
        ------
        ValueError
            Negative or non-integer counts, a non-positive prior, or posterior means with
            ``se + sp <= 1``.
        """
        counts = {"tp": tp, "fn": fn, "tn": tn, "fp": fp}
        for name, x in counts.items():
            if isinstance(x, bool) or not float(x).is_integer() or x < 0:
                raise ValueError(f"from_counts: {name} must be a non-negative integer count, got {x!r}")
        counts = {k: int(v) for k, v in counts.items()}
        if len(prior) != 2 or not all(float(x) > 0 for x in prior):
            raise ValueError(f"from_counts: prior must be (a, b) with a, b > 0, got {prior!r}")
        a, b = (float(x) for x in prior)
        se_ab = (counts["tp"] + a, counts["fn"] + b)
        sp_ab = (counts["tn"] + a, counts["fp"] + b)
        src = {"kind": "counts", **counts, "prior": [a, b], **(source or {})}
        return cls(se_ab[0] / sum(se_ab), sp_ab[0] / sum(sp_ab), se_ab, sp_ab, src)

    @classmethod
    def from_validation(cls, validation, prior: tuple[float, float] = (1.0, 1.0)) -> JudgeError:
        """The judge error of a :class:`afdecomp.JudgeValidation`: its confusion counts at its threshold.

        The counts are those of the scored items (``validation.confusion()``); the judge, task,
        dataset and threshold are recorded as the source.
        """
        from ..label.validation import JudgeValidation
        if not isinstance(validation, JudgeValidation):
            raise TypeError(f"from_validation expects a JudgeValidation (afd.validate_judge), "
                            f"got {type(validation).__name__}")
        info = validation.info
        src = {"validation": {k: (str(info[k]) if k == "dataset" else info[k])
                              for k in ("judge", "task", "task_hash", "dataset", "threshold")
                              if info.get(k) is not None}}
        return cls.from_counts(**validation.confusion(), prior=prior, source=src)

    # ------------------------------------------------------------------ properties
    @property
    def is_fixed(self) -> bool:
        """True when both rates are fixed numbers (no Beta distribution)."""
        return self.sensitivity_beta is None and self.specificity_beta is None

    @property
    def shrinkage(self) -> float:
        """``se + sp − 1`` at the (mean) values: the factor by which the judge shrinks every gap."""
        return self.sensitivity + self.specificity - 1.0

    def interval(self, prob: float = 0.94) -> dict[str, tuple[float, float]]:
        """Central ``prob`` interval of each rate (a fixed value is its own interval)."""
        from scipy.stats import beta
        out = {}
        for name in ("sensitivity", "specificity"):
            ab = getattr(self, name + "_beta")
            x = getattr(self, name)
            out[name] = (x, x) if ab is None else tuple(float(v) for v in beta(*ab).ppf([(1 - prob) / 2, (1 + prob) / 2]))
        return out

    def sample(self, size: int, rng=None) -> tuple[np.ndarray, np.ndarray]:
        """``size`` draws of (se, sp); fixed values are repeated."""
        rng = np.random.default_rng(rng)
        out = []
        for name in ("sensitivity", "specificity"):
            ab = getattr(self, name + "_beta")
            out.append(np.full(size, getattr(self, name)) if ab is None else rng.beta(*ab, size=size))
        return out[0], out[1]

    def describe(self) -> str:
        """One line, e.g. ``se Beta(46, 7) (mean 0.868), sp Beta(51, 6) (mean 0.895)``."""
        parts = []
        for short, name in (("se", "sensitivity"), ("sp", "specificity")):
            ab = getattr(self, name + "_beta")
            x = getattr(self, name)
            parts.append(f"{short} {x:.3g}" if ab is None else f"{short} Beta({ab[0]:g}, {ab[1]:g}) (mean {x:.3f})")
        return ", ".join(parts)

    def __str__(self) -> str:
        return f"JudgeError({self.describe()})"

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """A JSON-able dict (:meth:`from_dict` reads it back)."""
        return {"sensitivity": self.sensitivity, "specificity": self.specificity,
                "sensitivity_beta": None if self.sensitivity_beta is None else list(self.sensitivity_beta),
                "specificity_beta": None if self.specificity_beta is None else list(self.specificity_beta),
                "source": self.source}

    @classmethod
    def from_dict(cls, d: Mapping) -> JudgeError:
        """The inverse of :meth:`to_dict`."""
        return cls(d["sensitivity"], d["specificity"],
                   None if d.get("sensitivity_beta") is None else tuple(d["sensitivity_beta"]),
                   None if d.get("specificity_beta") is None else tuple(d["specificity_beta"]),
                   dict(d.get("source") or {}))


# ----------------------------------------------------------------------------- the noisy channel
def apply_judge_error(labels, je: JudgeError, rng=None):
    """Pass true 0/1 labels through a judge: the noisy channel of the module docstring.

    A true positive stays positive with probability ``se`` and a true negative turns positive
    with probability ``1 − sp``; missing labels (NA/NaN) stay missing. The rates used are
    ``je.sensitivity`` and ``je.specificity`` (the means, for Beta distributions).

    Parameters
    ----------
    labels : Series or array-like of bool/0/1 with NA
    je : JudgeError
    rng : numpy Generator or seed, optional

    Returns
    -------
    Series (same index, nullable ``boolean``) for a Series, else a float array (NaN = missing).
    """
    if not isinstance(je, JudgeError):
        raise TypeError(f"je must be a JudgeError, got {type(je).__name__}")
    rng = np.random.default_rng(rng)
    s = labels if isinstance(labels, pd.Series) else pd.Series(np.asarray(labels, dtype=object))
    na = s.isna().to_numpy()
    vals = pd.to_numeric(s.where(~s.isna(), np.nan).astype(object), errors="coerce").to_numpy(dtype=float)
    bad = ~na & ~np.isin(vals, (0.0, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"labels must be 0/1 (or bool) or missing; position {i} holds {s.iloc[i]!r}")
    u = rng.random(len(vals))
    judged = np.where(vals == 1.0, u < je.sensitivity, u >= je.specificity).astype(float)
    judged[na] = np.nan
    if isinstance(labels, pd.Series):
        return pd.Series(pd.array(np.where(na, None, judged == 1.0), dtype="boolean"), index=labels.index,
                         name=labels.name)
    return judged


# ----------------------------------------------------------------------------- in a PyMC model
def judge_rates(je: JudgeError, label: str, shared: bool = False):
    """Inside a ``pm.Model``: the judge's ``(se, sp)`` for one label.

    Fixed values are returned as numbers. Beta distributions become random variables
    ``se_<label>`` and ``sp_<label>`` with those priors, and the potential
    ``se_sp_<label>`` restricts them to ``se + sp > 1`` (the region where the label is
    informative; for validation-set posteriors it holds almost all the prior mass).
    ``shared``: hold each Beta's ``(a, b)`` in ``pm.Data`` (``se_<label>_ab``,
    ``sp_<label>_ab``), so that a compiled model can be refitted with other validation counts.
    """
    import pymc as pm
    import pytensor.tensor as pt
    if je.is_fixed:
        return je.sensitivity, je.specificity
    out = []
    for short, name in (("se", "sensitivity"), ("sp", "specificity")):
        ab = getattr(je, name + "_beta")
        if ab is not None and shared:
            ab = pm.Data(f"{short}_{label}_ab", np.asarray(ab, dtype=float))
        out.append(getattr(je, name) if ab is None else pm.Beta(f"{short}_{label}", alpha=ab[0], beta=ab[1]))
    se, sp = out
    pm.Potential(f"se_sp_{label}", pt.switch(pt.gt(se + sp, 1.0), 0.0, -np.inf))
    return se, sp


def judged_potential(k, n, eta, je: JudgeError | None = None, label: str = "complied", shared: bool = False):
    """The binomial log-likelihood of the counts, through the judge when one is given (PyTensor).

    Inside a ``pm.Model``. ``je=None``: exactly :func:`binomial_potential` (``sigmoid(η)`` is
    the rate of the counts). Otherwise ``η`` is the logit of the *true* rate, the counts are
    binomial with the judged rate ``se·p + (1 − sp)·(1 − p)``, and ``se``, ``sp`` come from
    :func:`judge_rates` (``shared``: their Beta parameters as ``pm.Data``).
    """
    if je is None:
        return binomial_potential(k, n, eta)
    se, sp = judge_rates(je, label, shared)
    return judged_binomial_potential(k, n, eta, se, sp)


# ----------------------------------------------------------------------------- fit arguments
def resolve_judge_error(judge_error, labels, who: str) -> dict[str, JudgeError]:
    """Check a fit's ``judge_error`` argument: ``{label: JudgeError or JudgeValidation}``.

    Every key must be a label the fit models (``labels``); a ``JudgeValidation`` is converted
    with :meth:`JudgeError.from_validation`. Returns ``{}`` for ``None``.
    """
    from ..label.validation import JudgeValidation
    if judge_error is None:
        return {}
    labels = [labels] if isinstance(labels, str) else list(labels)
    if isinstance(judge_error, (JudgeError, JudgeValidation)) or not isinstance(judge_error, Mapping):
        raise TypeError(f"{who}: judge_error must be a dict naming the label it corrects, e.g. "
                        f"{{{labels[0]!r}: je}}; got {type(judge_error).__name__}")
    unknown = [k for k in judge_error if k not in labels]
    if unknown:
        raise ValueError(f"{who}: judge_error names {unknown}, but this fit models {labels}; "
                         f"each key must be a fitted label")
    out = {}
    for k, v in judge_error.items():
        if isinstance(v, JudgeValidation):
            v = JudgeError.from_validation(v)
        if not isinstance(v, JudgeError):
            raise TypeError(f"{who}: judge_error[{k!r}] must be a JudgeError (or a JudgeValidation), "
                            f"got {type(v).__name__}")
        out[k] = v
    return out


def judge_attrs(judge: Mapping[str, JudgeError]) -> str | None:
    """The ``idata.attrs["judge_error"]`` JSON of a fit's judge correction (None without one)."""
    return json.dumps({k: v.to_dict() for k, v in judge.items()}) if judge else None


def judge_from_attrs(attrs: Mapping) -> dict[str, JudgeError]:
    """The judge correction recorded in a fit's attributes (``{}`` for an uncorrected fit)."""
    raw = attrs.get("judge_error")
    if not raw:
        return {}
    return {k: JudgeError.from_dict(v) for k, v in json.loads(raw).items()}


def describe_judge(judge: Mapping[str, JudgeError]) -> str:
    """``"judge-corrected: complied (se …, sp …)"`` or ``"no judge correction"``."""
    if not judge:
        return "no judge correction"
    return "judge-corrected: " + "; ".join(f"{k} ({v.describe()})" for k, v in judge.items())


def judge_draws(attrs: Mapping, posterior, label: str | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """Per posterior draw (chains stacked), the judge's ``(se, sp)`` of a corrected fit; None if uncorrected.

    ``attrs`` are the fit's attributes (``attrs["judge_error"]``) and ``posterior`` its posterior
    Dataset: ``se_<label>`` / ``sp_<label>`` where sampled, else the fixed values. ``label``
    defaults to the one corrected label (an error when there are several).
    """
    judge = judge_from_attrs(attrs)
    if not judge:
        return None
    if label is None:
        if len(judge) != 1:
            raise ValueError(f"the fit corrects several labels {sorted(judge)}; name one")
        label = next(iter(judge))
    if label not in judge:
        return None
    je = judge[label]
    S = int(posterior.sizes["chain"] * posterior.sizes["draw"])
    out = []
    for short, name in (("se", "sensitivity"), ("sp", "specificity")):
        var = f"{short}_{label}"
        if var in posterior:
            out.append(np.asarray(posterior[var].values, dtype=float).reshape(S))
        else:
            out.append(np.full(S, getattr(je, name)))
    return out[0], out[1]

