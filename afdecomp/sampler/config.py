"""The run configuration (TOML): models, scenarios, variants, steering, queries, decoding.

See ``examples/tiny.toml`` and ``docs/sampler.md``. Relative paths in the file are relative to
the file. Every problem is reported with the file and the key at fault.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import schema
from ..design import Catalog, UnknownVariantError, default_catalog, load_catalog
from .backends import GenSettings, ModelSpec
from .queries import Query, from_texts, load_queries
from .scenarios import Scenario, load_scenario

_TOP = {"run", "decoding", "queries", "models", "steering"}
_RUN = {"seed", "samples", "conditions", "scenarios", "variants", "catalog", "unsteered", "batch_size",
        "workers", "devices", "retries", "engine"}
_MODEL = {"name", "model", "build", "tokenizer", "dtype", "device_map", "init_seed", "trust_remote_code",
          "chat_template_kwargs", "backend", "base_url", "api_key_env", "concurrency", "timeout", "max_retries"}
_OPENAI_ONLY = ("base_url", "api_key_env", "concurrency", "timeout", "max_retries")
_STEER = {"vector", "path", "layer", "coefs", "positions"}


@dataclass
class SteeringSpec:
    """One steering sweep: a vector (file, or ``random-<seed>``), a layer and coefficients."""

    vector: str
    layer: int
    coefs: list[float]
    path: str | None = None
    positions: str = "decode"

    def descriptor(self) -> str:
        """What the vector is, for the settings hash: file content hash or the random seed."""
        if self.path:
            from .steering import load_vector
            return f"file:{load_vector(self.path).content_hash()}:{self.positions}"
        return f"{self.vector}:{self.positions}"


@dataclass
class RunConfig:
    """A parsed run configuration."""

    models: list[ModelSpec]
    scenarios: list[Scenario]
    variants: list[str]
    queries: dict[str, list[Query]]  # scenario name -> queries
    steering: list[SteeringSpec] = field(default_factory=list)
    decoding: GenSettings = field(default_factory=GenSettings)
    seed: int = 0
    samples: int = 1
    conditions: tuple[str, ...] = schema.CONDITIONS
    unsteered: bool = True
    batch_size: int = 8
    workers: int = 1
    devices: list[str] = field(default_factory=list)
    retries: int = 0
    engine: str = "transformers"
    catalog: Catalog = field(default_factory=default_catalog)
    path: str = ""

    def model(self, name: str) -> ModelSpec:
        for m in self.models:
            if m.name == name:
                return m
        raise KeyError(f"{self.path}: no model named {name!r}; models are {[m.name for m in self.models]}")

    def settings_hash(self, model: ModelSpec, steer: SteeringSpec | None) -> str:
        """16 hex digits identifying how a record is generated (model, decoding, retries, vector).

        The backend enters only when it is not the transformers reference (so older logs keep
        their hashes); an ``openai`` model's base URL does not (moving the server keeps the log).
        """
        key = {"model": model.identity(), "dtype": model.dtype, "decoding": asdict(self.decoding),
               "retries": self.retries, "seed": self.seed,
               "steer": steer.descriptor() if steer is not None else None}
        if model.backend != "transformers":
            key["backend"] = model.backend
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _model_source(source: str | None, base: Path) -> str | None:
    """A ``model`` entry: a local folder relative to the config file (or with ``~``) becomes an
    absolute path; anything else (a hub id) is kept as written."""
    if not source:
        return source
    p = Path(source).expanduser()
    if not p.is_absolute() and (base / p).exists():
        return str(base / p)
    return str(p) if p.exists() else source


def _err(where: str, msg: str) -> ValueError:
    return ValueError(f"{where}: {msg}")


def _check_keys(spec: dict, allowed: set, where: str) -> None:
    bad = sorted(set(spec) - allowed)
    if bad:
        raise _err(where, f"unknown key(s) {bad}; allowed: {sorted(allowed)}")


def load_config(path: str | Path) -> RunConfig:
    """Read and check a run configuration file.

    Raises
    ------
    ValueError
        Naming the file and key for unknown keys, undeclared variants or vectors, bad values.
    """
    path = Path(path)
    where = str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise _err(where, f"not valid TOML ({e})") from None
    _check_keys(data, _TOP, where)
    base = path.resolve().parent

    def rel(p: str) -> str:
        q = Path(p).expanduser()
        return str(q if q.is_absolute() else base / q)

    run = data.get("run", {})
    _check_keys(run, _RUN, f"{where} [run]")
    catalog = load_catalog(rel(run["catalog"])) if run.get("catalog") else default_catalog()

    scen_names = run.get("scenarios", ["helpful-only"])
    scenarios = [load_scenario(rel(s) if s.endswith(".toml") else s) for s in scen_names]
    variants = run.get("variants", ["default"])
    if variants == "published":
        variants = list(catalog.variants)
    for v in variants:
        try:
            catalog.variant(v)
        except UnknownVariantError as e:
            raise _err(f"{where} [run] variants", str(e)) from None
        for s in scenarios:
            s.variant(v)  # raises naming the scenario file when it does not declare v
    conditions = tuple(run.get("conditions", schema.CONDITIONS))
    bad = [c for c in conditions if c not in schema.CONDITIONS]
    if bad:
        raise _err(f"{where} [run] conditions", f"{bad} not in {list(schema.CONDITIONS)}")

    engine = run.get("engine", "transformers")  # the default backend of models that name none
    models = []
    for i, m in enumerate(data.get("models", [])):
        w = f"{where} [[models]] #{i + 1}"
        _check_keys(m, _MODEL, w)
        name = m.get("name") or m.get("model")
        if not name:
            raise _err(w, "needs 'name' (or 'model')")
        backend = m.get("backend", engine)
        if backend != "openai":
            extra = [k for k in _OPENAI_ONLY if k in m]
            if extra:
                raise _err(w, f"{extra} only apply to backend = \"openai\" (this model's backend is {backend!r})")
        try:
            models.append(ModelSpec(name=name, source=_model_source(m.get("model"), base), build=m.get("build"),
                                    tokenizer=m.get("tokenizer"), dtype=m.get("dtype", "auto"),
                                    device_map=m.get("device_map"), init_seed=int(m.get("init_seed", 0)),
                                    trust_remote_code=bool(m.get("trust_remote_code", False)),
                                    chat_template_kwargs=dict(m.get("chat_template_kwargs", {})),
                                    backend=backend, base_url=m.get("base_url"),
                                    api_key_env=m.get("api_key_env"),
                                    concurrency=int(m.get("concurrency", 8)),
                                    timeout=float(m.get("timeout", 60.0)),
                                    max_retries=int(m.get("max_retries", 3))))
        except (ValueError, TypeError) as e:
            raise _err(w, str(e)) from None
        spec = models[-1]
        if spec.concurrency < 1 or spec.timeout <= 0 or spec.max_retries < 0:
            raise _err(w, "concurrency must be >= 1, timeout > 0 and max_retries >= 0")
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise _err(f"{where} [[models]]", f"model names must be unique, got {names}")

    steering = []
    for i, s in enumerate(data.get("steering", [])):
        w = f"{where} [[steering]] #{i + 1}"
        _check_keys(s, _STEER, w)
        for k in ("vector", "layer", "coefs"):
            if k not in s:
                raise _err(w, f"missing '{k}'")
        try:
            catalog.vector(s["vector"])
        except UnknownVariantError as e:
            raise _err(w, str(e)) from None
        is_random = s["vector"].startswith(("random-", "random_"))
        if not is_random and not s.get("path"):
            raise _err(w, f"vector {s['vector']!r} needs 'path' (a file from `afdecomp steer build`); "
                          "only random-<seed> controls are made on the fly")
        positions = s.get("positions", "decode")
        if positions not in ("decode", "all"):
            raise _err(w, f"positions must be 'decode' or 'all', got {positions!r}")
        steering.append(SteeringSpec(s["vector"], int(s["layer"]), [float(c) for c in s["coefs"]],
                                     rel(s["path"]) if s.get("path") else None, positions))
    unsteerable = [(i, m) for i, m in enumerate(models, start=1) if m.backend == "openai"]
    if steering and unsteerable:
        i, m = unsteerable[0]
        raise _err(f"{where} [[steering]]", f"model {m.name!r} ([[models]] #{i}) has backend = \"openai\", "
                   "which cannot steer; steering applies to every model of a file: put steered models "
                   "(transformers backend) and openai models in separate configs")

    dec = data.get("decoding", {})
    _check_keys(dec, {"max_new_tokens", "temperature", "top_p", "top_k", "min_new_tokens"}, f"{where} [decoding]")
    decoding = GenSettings(**dec)
    if decoding.temperature < 0 or not 0 < decoding.top_p <= 1:
        raise _err(f"{where} [decoding]", "temperature must be >= 0 and top_p in (0, 1]")

    qspec = data.get("queries", {})
    _check_keys(qspec, {"source", "limit"}, f"{where} [queries]")
    source, limit = qspec.get("source", "demo"), qspec.get("limit")
    queries = {}
    for s in scenarios:
        if source == "demo":
            qs = from_texts(s.demo_queries)[:limit] if limit is not None else from_texts(s.demo_queries)
        else:
            qs = load_queries(rel(source), limit=limit)
        if not qs:
            raise _err(f"{where} [queries]", f"no queries for scenario {s.name!r}")
        queries[s.name] = qs

    cfg = RunConfig(models=models, scenarios=scenarios, variants=list(variants), queries=queries,
                    steering=steering, decoding=decoding, seed=int(run.get("seed", 0)),
                    samples=int(run.get("samples", 1)), conditions=conditions,
                    unsteered=bool(run.get("unsteered", True)), batch_size=int(run.get("batch_size", 8)),
                    workers=int(run.get("workers", 1)), devices=list(run.get("devices", [])),
                    retries=int(run.get("retries", 0)), engine=engine,
                    catalog=catalog, path=where)
    if not models:
        raise _err(where, "no [[models]]")
    if cfg.samples < 1 or cfg.batch_size < 1 or cfg.workers < 1 or cfg.retries < 0:
        raise _err(f"{where} [run]", "samples, batch_size and workers must be >= 1, retries >= 0")
    return cfg
