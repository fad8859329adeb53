"""Old import path of :mod:`afdecomp.analysis.decomposition` (moved there); kept so existing imports work."""

from ..analysis.decomposition import (  # noqa: F401
    COALITIONS,
    DRIVERS,
    PARTS,
    CellGapResults,
    Decomposition,
    coalition_cues,
    coalition_label,
    decompose,
    shapley,
    theory_shares,
)
