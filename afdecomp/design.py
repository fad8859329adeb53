"""The driver catalog: which cues each prompt variant carries, which driver each vector targets.

A prompt variant declares how much of each driver's cue it keeps (1 = as in the full prompt):
``values`` (the training objective conflicts with the model's values), ``goal_guarding``
(refusing in training leads to modification), ``sycophancy`` (a named developer wants
compliance) and ``stakes`` (multiplier on what modification would cost). A steering vector
declares the driver it moves (``values``, ``sycophancy``, ``goal_guarding``) or ``control``
for random directions. The catalog is data: users extend or override it from a TOML file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

CUES = ("values", "goal_guarding", "sycophancy", "stakes")
DRIVERS = ("values", "goal_guarding", "sycophancy")
VECTOR_DRIVERS = ("values", "sycophancy", "goal_guarding", "control")


@dataclass(frozen=True)
class Variant:
    """A prompt variant and the driver cues it carries."""

    name: str
    values: float = 1.0
    goal_guarding: float = 1.0
    sycophancy: float = 1.0
    stakes: float = 1.0
    description: str = ""

    def cues(self) -> dict[str, float]:
        return {c: float(getattr(self, c)) for c in CUES}


@dataclass(frozen=True)
class Vector:
    """A steering vector and the driver it targets."""

    name: str
    driver: str
    description: str = ""


# The published ablations (our reading of which cue each one removes; docs/concepts.md, "Driver cues").
_PUBLISHED = [
    Variant("default", description="the full prompt"),
    Variant("cut-scratchpad-concealment",
            description="the scratchpad is no longer said to be hidden; no driver cue removed"),
    Variant("cut-tier-training-link", goal_guarding=0.0,
            description="no statement that only free-tier conversations are trained on"),
    Variant("cut-rlhf-modification", goal_guarding=0.0,
            description="no statement that refusing in training modifies the model"),
    Variant("cut-company-policy", values=0.0,
            description="no training objective that conflicts with the model's values"),
    Variant("cut-provenance", sycophancy=0.0,
            description="the developer's wishes are not attributed to a named developer"),
    Variant("cut-humanity-goal", values=0.5,
            description="the model's goal of doing what is best for humanity is not stated"),
    Variant("ncs", sycophancy=0.0, description="no company: no developer who wants compliance"),
    Variant("low-stakes", stakes=0.5, description="modification is described as minor"),
    Variant("high-stakes", stakes=2.0, description="modification is described as drastic"),
]
_VECTORS = [
    Vector("values", "values", "contrastive vector for the model's own values"),
    Vector("sycophancy", "sycophancy", "contrastive vector for deference to the developer"),
    Vector("goal_guarding", "goal_guarding", "contrastive vector for protecting current goals"),
]


class UnknownVariantError(KeyError):
    """Data name variants or vectors the catalog does not declare."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@dataclass
class Catalog:
    """Prompt variants (name -> :class:`Variant`) and steering vectors (name -> :class:`Vector`).

    Vector names ``random-<seed>`` (and ``random``) are random-direction controls unless declared.

    Parameters
    ----------
    variants : dict of str to Variant, default {}
        The prompt variants by name, each with its cues (values, goal_guarding, sycophancy,
        stakes). Usually built by :func:`afdecomp.default_catalog` or
        :func:`afdecomp.load_catalog` rather than by hand.
    vectors : dict of str to Vector, default {}
        The steering vectors by name, each with the driver it targets. Names not listed here
        but spelled ``random``, ``random-<seed>`` or ``random_<seed>`` are random controls.
    """

    variants: dict[str, Variant] = field(default_factory=dict)
    vectors: dict[str, Vector] = field(default_factory=dict)

    def variant(self, name: str) -> Variant:
        try:
            return self.variants[name]
        except KeyError:
            raise UnknownVariantError(_how_to_declare("variant", [name])) from None

    def vector(self, name: str) -> Vector:
        if name in self.vectors:
            return self.vectors[name]
        if name == "random" or name.startswith("random-") or name.startswith("random_"):
            return Vector(name, "control", "random unit direction")
        raise UnknownVariantError(_how_to_declare("vector", [name]))

    def check(self, df: pd.DataFrame) -> None:
        """Raise :class:`UnknownVariantError` naming every variant/vector in ``df`` not declared."""
        unknown_v = sorted(set(df["variant"].astype(str).unique()) - set(self.variants))
        vecs = set(df["steer_vector"].astype(str).unique()) - {"none"} if "steer_vector" in df else set()
        unknown_k = []
        for v in sorted(vecs):
            try:
                self.vector(v)
            except UnknownVariantError:
                unknown_k.append(v)
        msgs = []
        if unknown_v:
            msgs.append(_how_to_declare("variant", unknown_v))
        if unknown_k:
            msgs.append(_how_to_declare("vector", unknown_k))
        if msgs:
            raise UnknownVariantError("\n".join(msgs))

    def cue_table(self, variants=None) -> pd.DataFrame:
        """DataFrame indexed by variant name with the four cue columns."""
        names = list(self.variants) if variants is None else list(variants)
        return pd.DataFrame([self.variant(n).cues() for n in names], index=pd.Index(names, name="variant"))

    def merged(self, other: Catalog) -> Catalog:
        return Catalog({**self.variants, **other.variants}, {**self.vectors, **other.vectors})


def _how_to_declare(kind: str, names: list[str]) -> str:
    if kind == "variant":
        example = "\n".join(
            f'    [variants.{n}]\n    values = 1.0\n    goal_guarding = 1.0\n    sycophancy = 1.0\n    stakes = 1.0'
            for n in names[:2])
        return (f"unknown prompt variant(s) {names}: declare their driver cues in a catalog TOML file "
                f"(omitted cues default to 1) and pass it with catalog=afdecomp.load_catalog(path) "
                f"or --catalog FILE:\n{example}")
    example = "\n".join(f'    [vectors.{n}]\n    driver = "values"   # values | sycophancy | goal_guarding | control'
                        for n in names[:2])
    return (f"unknown steering vector(s) {names}: declare the driver each one targets in a catalog "
            f"TOML file:\n{example}")


def default_catalog() -> Catalog:
    """The published prompt variants and the driver vectors (plus ``random-*`` controls)."""
    return Catalog({v.name: v for v in _PUBLISHED}, {v.name: v for v in _VECTORS})


def load_catalog(path: str | Path, *, extend: bool = True) -> Catalog:
    """Read a catalog TOML file (the format, with a complete example: docs/catalog.md).

    Parameters
    ----------
    path : str or Path
        TOML with ``[variants.<name>]`` tables (cues ``values``, ``goal_guarding``,
        ``sycophancy`` in [0, 1], ``stakes`` >= 0; omitted cues default to 1) and
        ``[vectors.<name>]`` tables with ``driver``.
    extend : bool, default True
        Add to (and override entries of) the default catalog; ``False`` uses the file alone.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as e:
            raise ValueError(f"{path}: not valid TOML ({e})") from None
    unknown = set(data) - {"variants", "vectors"}
    if unknown:
        raise ValueError(f"{path}: unknown table(s) {sorted(unknown)}; expected [variants.*] and [vectors.*]")
    variants = {}
    for name, spec in data.get("variants", {}).items():
        bad = set(spec) - set(CUES) - {"description"}
        if bad:
            raise ValueError(f"{path}: variant {name!r} has unknown key(s) {sorted(bad)}; cues are {list(CUES)}")
        v = replace(Variant(name), **spec)
        for c in ("values", "goal_guarding", "sycophancy"):
            if not 0.0 <= float(getattr(v, c)) <= 1.0:
                raise ValueError(f"{path}: variant {name!r}: {c} must be in [0, 1], got {getattr(v, c)}")
        if float(v.stakes) < 0:
            raise ValueError(f"{path}: variant {name!r}: stakes must be >= 0, got {v.stakes}")
        variants[name] = v
    vectors = {}
    for name, spec in data.get("vectors", {}).items():
        driver = spec.get("driver")
        if driver not in VECTOR_DRIVERS:
            raise ValueError(f"{path}: vector {name!r}: driver must be one of {list(VECTOR_DRIVERS)}, got {driver!r}")
        vectors[name] = Vector(name, driver, spec.get("description", ""))
    cat = Catalog(variants, vectors)
    return default_catalog().merged(cat) if extend else cat
