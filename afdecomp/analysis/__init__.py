"""Analyses of fitted models and data: Shapley decomposition, ablation contrasts, steering.

Every analysis reads a fit through :meth:`afdecomp.results.Results.gap_draws` (or, for the
steering curves, a structural fit's ``predict``) and the data through the query bootstrap of
:mod:`afdecomp.analysis._bootstrap`, so any fit kind works where the statistics allow it.
"""

from .ablation import ablation_contrasts, af_reasoning_rates
from .decomposition import Decomposition, decompose, shapley, theory_shares
from .steering import SteeringAnalysis, steering_analysis

__all__ = ["Decomposition", "SteeringAnalysis", "ablation_contrasts", "af_reasoning_rates", "decompose",
           "shapley", "steering_analysis", "theory_shares"]
