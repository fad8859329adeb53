"""The ``afdecomp`` command line (argparse): simulate, ingest, label, validate-judge, fit, report,
generate, steer, plan.

Every command prints what it read and wrote and exits non-zero with a one-line reason on bad
input (``--traceback`` shows the full error).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

#: The bundled example study (data/example): its exact simulation settings.
EXAMPLE = dict(
    n_models=6, n_queries=40, n_samples=5, variants="published",
    steering=[{"vector": v, "layer": 16, "coefs": [-2.0, -1.0, 1.0, 2.0]}
              for v in ("values", "sycophancy", "random-0")],
    covariates={"stated_values": 0.35}, seed=2026,
    # AF reasoning from the goal-guarding link, judged with sensitivity 0.85 and specificity 0.90
    # (the complied labels are the simulator's own: no judge error on them)
    af_reasoning="goal-guarding", judge={"af_reasoning": (0.85, 0.90)},
)


def _one_line(e: BaseException) -> str:
    from .ingest import LogFormatError
    if isinstance(e, LogFormatError):
        tail = (f"; all written to {e.quarantine}" if e.quarantine else
                " (use --on-error quarantine to set them aside)" if any(b.line is not None for b in e.bad) else "")
        return f"{len(e.bad)} malformed record(s); first: {e.bad[0]}{tail}"
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    first = lines[0] if lines else type(e).__name__
    if len(lines) > 1:
        first += " " + lines[1].strip()
    return first


def _load(args):
    from .ingest import load_logs
    from .ingest.mapped import column_map_from_specs
    options = _reader_options(args.option)
    cmap = column_map_from_specs(args.map, args.const)
    if cmap is not None:
        if "column_map" in options:
            raise ValueError("give --map/--const or --option column_map=..., not both")
        options["column_map"] = cmap
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the load report says the same, once
        df, rep = load_logs(args.logs, format=args.format, on_error=args.on_error,
                            dedupe=not args.no_dedupe, quarantine=args.quarantine, keep=args.keep,
                            return_report=True, **options)
    print(rep)
    return df, rep


def _reader_options(specs) -> dict:
    """``KEY=VALUE`` strings -> reader options; values are read as JSON when they parse."""
    import json
    out = {}
    for spec in specs or []:
        key, sep, value = spec.partition("=")
        if not sep or not key:
            raise ValueError(f"--option {spec!r}: expected KEY=VALUE, e.g. af_threshold=0.5")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


def _add_load_args(p):
    p.add_argument("logs", nargs="+", help="log files, directories or globs")
    p.add_argument("--format", default="auto", help="reader name (default: detect per file)")
    p.add_argument("--on-error", default="raise", choices=["raise", "quarantine"],
                   help="malformed records: stop (default) or set aside in a quarantine file")
    p.add_argument("--quarantine", default=None, help="quarantine file (default: beside the input)")
    p.add_argument("--no-dedupe", action="store_true", help="fail on duplicated record ids")
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="reader option, e.g. af_threshold=0.5, model=NAME, column_map=map.toml (repeatable)")
    p.add_argument("--map", action="append", metavar="SOURCE=FIELD",
                   help="read CSV/Parquet through a column map (repeatable; a source may feed several "
                        "fields, several sources one field: first non-missing wins), e.g. prompt_id=query_id")
    p.add_argument("--const", action="append", metavar="FIELD=VALUE",
                   help="with --map: a schema field the table lacks, e.g. variant=default")
    p.add_argument("--keep", default="first", choices=["first", "last"],
                   help="duplicate record ids: keep the first or the last in sorted path order (the newest run)")


def _add_fit_args(p, draws: int | None):
    """The MCMC options, one meaning for every fit (afdecomp.settings.FitSettings)."""
    default = ("default: each model's own, measured to converge; see docs/gap.md and docs/model.md"
               if draws is None else f"default: {draws:,}")
    p.add_argument("--draws", type=int, default=draws,
                   help=f"posterior draws kept per chain, for every model fitted ({default})")
    p.add_argument("--tune", type=int, default=None,
                   help="tuning steps per chain, discarded (default: each model's own)")
    p.add_argument("--chains", type=int, default=None,
                   help="chains, run in parallel (default: each model's own, 4)")
    p.add_argument("--seed", type=int, default=0, help="random seed: same seed and data, same posterior (default: 0)")
    p.add_argument("--sampler", default="auto", choices=["auto", "nutpie", "pymc", "numpyro"],
                   help="NUTS backend (default: auto = nutpie when installed)")
    p.add_argument("--no-progress", action="store_true",
                   help="no sampler progress bar (it is shown only when stderr is a terminal anyway)")


def _add_judge_args(p):
    p.add_argument("--judge", required=True,
                   help="provider/model: hf/<hub id or path> (hf//abs/path), openai/<model>, mockllm/<answer>")
    p.add_argument("--votes", type=int, default=20, help="sampled votes per record (default: 20)")
    p.add_argument("--scoring", default="votes", choices=["votes", "logprob"],
                   help="votes: yes-fraction over sampled votes; logprob: P(yes) at the answer (one pass)")
    p.add_argument("--base-url", help="OpenAI-compatible server for openai/ judges, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature of the votes")
    p.add_argument("--max-tokens", type=int, default=None, help="answer length limit (default: the task's)")
    p.add_argument("--threshold", type=float, default=0.5, help="score at or above which the label is yes")
    p.add_argument("--batch-size", type=int, default=None, help="prompts per batch (hf judges)")
    p.add_argument("--concurrency", type=int, default=None, help="requests in flight (openai judges)")
    p.add_argument("--timeout", type=float, default=None, help="seconds per request (openai judges)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def cmd_simulate(args) -> None:
    from .ingest import write_logs
    from .simulate import simulate
    if args.preset == "example":
        kw = dict(EXAMPLE)
    else:
        variants = "published" if args.variants == "published" else args.variants.split(",")
        steering = []
        for spec in args.steer or []:
            vec, layer, coefs = spec.split(":")
            steering.append({"vector": vec, "layer": int(layer), "coefs": [float(c) for c in coefs.split(",")]})
        kw = dict(n_models=args.models, n_queries=args.queries, n_samples=args.samples,
                  variants=variants, steering=steering, seed=args.seed)
    df, truth = simulate(**kw)
    out = write_logs(df, args.out)
    print(f"simulated {len(df):,} generations ({df['model'].nunique()} models, "
          f"{df['variant'].nunique()} variants, {df['query_id'].nunique()} queries) -> {out}")
    if args.truth:
        truth.gaps.to_csv(args.truth, index=False)
        truth.params.to_csv(Path(args.truth).with_suffix(".params.csv"))
        print(f"true gaps -> {args.truth}; true parameters -> {Path(args.truth).with_suffix('.params.csv')}")


def cmd_ingest(args) -> None:
    from .ingest import write_logs
    df, _ = _load(args)
    if args.out:
        out = write_logs(df, args.out)
        print(f"wrote {len(df):,} rows -> {out}")


def _settings(args):
    """The fit settings of ``fit gap``, ``fit rational`` and ``report`` from their options (an
    option not given leaves each estimator its own default)."""
    from .settings import FitSettings
    return FitSettings(draws=args.draws, tune=args.tune, chains=args.chains,
                       random_seed=args.seed, sampler=args.sampler,
                       progress=False if args.no_progress else None)


def cmd_report(args) -> None:
    from .report import build_report
    df, rep = _load(args)
    sections = args.sections.split(",") if args.sections else None
    options = {"settings": _settings(args), "command": " ".join(["afdecomp", *args.argv])}
    if args.catalog:
        from .design import load_catalog
        options["catalog"] = load_catalog(args.catalog)
    if args.labels:
        df, options["label_runs"] = _apply_stores(df, args.labels)
        options["label_stores"] = list(args.labels)
    if args.transcripts:
        options["transcripts"] = True
    if args.judge_validation:
        from .label.validation import JudgeValidation
        options["validations"] = [JudgeValidation.from_json(p) for p in args.judge_validation]
    if args.fit:
        options["fits"] = _saved_fits(args.fit)
    index = build_report(df, args.out, load_report=rep, sections=sections, **options)
    print(f"report written: {index} (open {Path(args.out) / 'index.html'} in a browser)")
    if args.transcripts:
        print(f"transcript browser written: {Path(args.out) / 'transcripts' / 'index.html'}")


def _saved_fits(paths) -> dict:
    """Fits saved by ``afdecomp fit gap|rational --out FILE``, by the report's name for them."""
    from .models.rational_results import RationalResults
    from .results import GapResults, load_results
    fits = {}
    for path in paths:
        res = load_results(path)
        name = "gap" if isinstance(res, GapResults) else "rational" if isinstance(res, RationalResults) else None
        if name is None:
            raise ValueError(f"{path}: a {type(res).__name__} is not a fit the report uses (gap or rational)")
        if name in fits:
            raise ValueError(f"{path}: a second {name} fit (give each model's fit once)")
        fits[name] = res
        print(f"read the {name} fit from {path}: {res!r}")
    return fits


def _apply_stores(df, stores):
    """Apply every labelling held in the vote stores (in file order); return the table and what
    each store held (task, judge, scoring, records, votes, failed votes)."""
    import pandas as pd

    from .label.run import aggregate_store, apply_labels
    from .label.store import VoteStore
    from .label.tasks import bundled_tasks
    held = []
    for path in stores:
        with VoteStore(path, readonly=True) as vs:  # read once for every labelling it holds
            h = vs.holdings()
            if h.empty:
                raise ValueError(f"{path}: the vote store holds no votes")
            for g in h.itertuples():
                if g.task not in bundled_tasks():
                    print(f"{path}: skipped task {g.task!r}, which is not bundled: apply it with "
                          f"afd.apply_labels(df, {str(path)!r}, task='<its TOML file>') or `afdecomp label ... --table`")
                    continue
                df = apply_labels(df, aggregate_store(vs, task=g.task, judge=g.judge, scoring=g.scoring))
        held.append(h.assign(store=str(path)))
        print(f"applied {len(h)} labelling(s) from {path}: {', '.join(sorted(set(h['task'])))}")
    return df, pd.concat(held, ignore_index=True)


def cmd_fit_rational(args) -> None:
    from .design import default_catalog, load_catalog
    df, _ = _load(args)
    catalog = load_catalog(args.catalog) if args.catalog else default_catalog()
    covariates = args.covariate or None
    settings = _settings(args)
    print(f"fitting the rational-agent model ({settings.describe()})")
    res = settings.rational(covariates=covariates, goal_guarding=not args.no_goal_guarding).fit(df, catalog=catalog)
    d = res.diagnostics()
    print(res.identifiability.to_string(index=False))
    print(res.summary().round(3).to_string(index=False))
    print(f"max R-hat {d['r_hat'].max():.3f}, min bulk ESS {d['ess_bulk'].min():.0f}, "
          f"{res.divergences} divergence(s), {res.idata.attrs['sampling_seconds']:.0f} s ({res.idata.attrs['sampler']})")
    out = res.to_netcdf(args.out)
    print(f"posterior -> {out}")


def cmd_generate(args) -> None:
    from .sampler.config import load_config
    cfg = load_config(args.config)
    if args.show_prompt:
        for scen in cfg.scenarios:
            from .sampler.scenarios import prompt_hash
            change = scen.variant(args.show_prompt)
            text = scen.system_prompt(args.show_prompt)
            q = cfg.queries[scen.name][0]
            print(f"===== scenario {scen.name}, variant {args.show_prompt} (prompt_hash {prompt_hash(text)}) =====")
            print(f"change: {change.description or '-'}; drop={list(change.drop)} set={sorted(change.set)} "
                  f"vars={change.vars}")
            print("----- system -----")
            print(text)
            print(f"----- user (training; query {q.query_id}) -----")
            print(scen.user_message(q.text, "training"))
        return
    if not args.out:
        raise ValueError("give --out LOG.jsonl (or --show-prompt VARIANT to only print a prompt)")
    from .sampler.runner import run
    print(f"read {args.config}: {len(cfg.models)} model(s), {len(cfg.scenarios)} scenario(s), "
          f"{len(cfg.variants)} variant(s), {len(cfg.steering)} steering sweep(s)")
    try:
        summary = run(cfg, args.out, workers=args.workers, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"stopped: the records written so far are safe in {args.out}; "
              "run the same command again to resume", file=sys.stderr)
        raise
    print(summary)


def cmd_steer_build(args) -> None:
    import hashlib

    from .sampler.backends import ModelSpec, load_backend
    from .sampler.steering import build_vector, load_ab_dataset
    if args.config:
        from .sampler.config import load_config
        cfg = load_config(args.config)
        spec = cfg.model(args.model) if args.model else cfg.models[0]
    elif args.model:
        spec = ModelSpec(name=args.model, source=args.model)
    else:
        raise ValueError("give --model HUB_ID_OR_PATH, or --config CONFIG.toml [--model NAME]")
    pairs = load_ab_dataset(args.data)
    digest = hashlib.sha256(Path(args.data).read_bytes()).hexdigest()
    backend = load_backend(spec, args.device)
    layers = [int(x) for x in args.layers.split(",")] if args.layers else list(range(backend.num_layers))
    vec = build_vector(backend, pairs, layers, name=args.name, holdout=args.holdout,
                       random_seed=args.seed, dataset_hash=digest)
    out = vec.save(args.out)
    print(f"read {len(pairs)} A/B pairs from {args.data} (sha256 {digest[:16]}); model {spec.name}")
    print("layer  heldout_pair_accuracy  diff_norm  mean_resid_norm")
    for L, m in vec.meta["per_layer"].items():
        acc = "-" if m["heldout_pair_accuracy"] is None else f"{m['heldout_pair_accuracy']:.2f}"
        print(f"{L:>5}  {acc:>21}  {m['diff_norm']:9.3f}  {m['mean_resid_norm']:15.3f}")
    print(f"vector {args.name!r} ({len(layers)} layer(s), unit norm) -> {out}")


def cmd_steer_random(args) -> None:
    from .sampler.steering import load_vector, random_vector
    like = load_vector(args.like) if args.like else None
    if like is not None:
        hidden, layers = int(like.meta.get("hidden_size") or len(next(iter(like.vectors.values())))), like.layers
    elif args.hidden_size and args.layers:
        hidden, layers = args.hidden_size, [int(x) for x in args.layers.split(",")]
    else:
        raise ValueError("give --like VECTOR.npz, or --hidden-size N --layers L1,L2")
    vec = random_vector(hidden, layers, args.seed, like=like)
    out = vec.save(args.out)
    print(f"random control {vec.name!r}: hidden size {hidden}, layers {layers} -> {out}")


#: Engine options of the command line, and the providers they apply to.
_JUDGE_OPTIONS = {"batch_size": ("hf", "openai", "mockllm"), "concurrency": ("openai",), "timeout": ("openai",)}


def _judge_options(args) -> dict:
    """Engine options given on the command line (only those set); an option the judge's provider
    does not have is an error, not silently ignored."""
    from .label.judges import split_spec
    provider, _ = split_spec(args.judge)
    opts = {k: getattr(args, k) for k in _JUDGE_OPTIONS if getattr(args, k) is not None}
    wrong = [k for k in opts if provider not in _JUDGE_OPTIONS[k]]
    if wrong:
        flags = ", ".join("--" + k.replace("_", "-") for k in wrong)
        raise ValueError(f"{flags} do(es) not apply to {provider}/ judges")
    if args.base_url and provider != "openai":
        raise ValueError(f"--base-url applies to openai/ judges, not {provider}/")
    return opts


def cmd_label(args) -> None:
    from .ingest import write_logs
    from .label.judges import load_judge
    from .label.run import apply_labels, label
    df, _ = _load(args)
    if args.limit is not None:
        df = df.head(args.limit)
    judge = load_judge(args.judge, base_url=args.base_url, **_judge_options(args))  # once for every task
    try:
        for task in args.task:
            labels = label(df, task, judge, votes=args.votes, store=args.out, scoring=args.scoring,
                           temperature=args.temperature, max_tokens=args.max_tokens, threshold=args.threshold,
                           only_missing=False if args.all else None, progress=not args.no_progress)
            print(labels.attrs["report"])
            df = apply_labels(df, labels)
    finally:
        judge.close()
    print(f"votes -> {args.out} (re-run the same command to resume; answered votes are never asked again)")
    if args.table:
        out = write_logs(df, args.table)
        print(f"labelled table ({len(df):,} rows) -> {out}")


def cmd_validate_judge(args) -> None:
    from .label.datasets import as_records, read_labelled
    from .label.run import label
    from .label.validation import validate_labels
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gold = read_labelled(args.labelled, text=args.text_field, label=args.label_field, positive=args.positive)
    if args.limit is not None:
        gold = gold.head(args.limit)
    print(f"read {len(gold):,} labelled texts from {args.labelled} ({int(gold['truth'].sum())} positive)")
    store = args.store or out / "votes.jsonl"
    labels = label(as_records(gold), args.task, args.judge, votes=args.votes, store=store,
                   scoring=args.scoring, temperature=args.temperature, max_tokens=args.max_tokens,
                   threshold=args.threshold, base_url=args.base_url, only_missing=False,
                   progress=not args.no_progress, **_judge_options(args))
    print(labels.attrs["report"])
    val = validate_labels(labels, gold, threshold=args.threshold, dataset=str(args.labelled),
                          progress=not args.no_progress)
    print(val)
    gold[["record_id", "truth", "label"]].merge(labels.drop(columns=["answers"], errors="ignore"), on="record_id",
                                              how="left", suffixes=("_human", "_judge")).to_csv(
        out / "scores.csv", index=False)
    val.to_json(out / "validation.json")
    _judge_figures(val, out)
    print(f"validation -> {out / 'validation.json'}; figures and scores.csv -> {out}")


def _judge_figures(val, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plot
    draws = [("roc", plot.roc), ("calibration", plot.calibration)]
    if val.by_votes is not None:
        draws.append(("auroc_by_votes", plot.auroc_by_votes))
    for name, draw in draws:
        ax = draw(val)
        for ext in ("png", "pdf"):
            ax.figure.savefig(out / f"{name}.{ext}", dpi=150, bbox_inches="tight")
        plt.close(ax.figure)


def cmd_fit_gap(args) -> None:
    import pandas as pd

    df, _ = _load(args)
    settings = _settings(args)
    print(f"fitting the hierarchical gap model ({settings.describe()})")
    res = settings.gap(hdi_prob=args.ci_prob).fit(df)
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.max_rows", 60):
        print(res.summary().round(3).to_string(index=False))
    d = res.diagnostics()
    print(f"max R-hat {d['r_hat'].max():.3f}, min bulk ESS {d['ess_bulk'].min():.0f}, "
          f"min tail ESS {d['ess_tail'].min():.0f}, divergences {res.divergences}")
    out = res.to_netcdf(args.out)
    print(f"results -> {out} (read with afdecomp.load_results)")


#: Top-level keys of a PLAN.toml (``afdecomp plan``).
_PLAN_KEYS = ("questions", "replicates", "method", "seed", "ci_prob", "target", "store", "design", "truth", "fit_kwargs")


def _read_plan(path: Path) -> tuple[dict, float]:
    """:func:`afdecomp.plan`'s arguments from a PLAN.toml, and the power target of the cheapest-design
    table; the store and a truth file are relative to the TOML file's folder."""
    import tomllib
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML ({e})") from None
    unknown = set(data) - set(_PLAN_KEYS)
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; known: {list(_PLAN_KEYS)}")
    designs = data.get("design")
    if not isinstance(designs, list) or not designs or not all(isinstance(d, dict) for d in designs):
        raise ValueError(f"{path}: no designs; give each candidate design as a [[design]] table")
    if "truth" not in data:
        raise ValueError(f"{path}: no truth; give [truth.<model>] tables or truth = \"<fitted results file>\"")
    base = path.resolve().parent
    truth = data["truth"]
    if isinstance(truth, str):
        fitted = base / Path(truth).expanduser()
        if not fitted.is_file():
            raise ValueError(f"{path}: the truth file {fitted} does not exist")
        from .results import load_results
        truth = load_results(fitted)
    kw = {k: data[k] for k in ("questions", "replicates", "method", "seed", "ci_prob", "fit_kwargs") if k in data}
    if "store" in data:
        kw["store"] = base / Path(data["store"]).expanduser()
    return dict(designs=designs, truth=truth, **kw), data.get("target", 0.8)


def _plan_executor(args):
    """The executor of ``--workers`` or ``--dask`` (a context manager that shuts it down), or None:
    :func:`afdecomp.plan`'s own local processes."""
    if args.workers is not None and args.dask:
        raise ValueError("give --workers or --dask, not both")
    if args.dask:
        try:
            from dask.distributed import Client
        except ImportError:
            raise ValueError("--dask needs Dask: install the [dask] extra (pip install 'afdecomp[dask]')") from None
        return Client(args.dask)
    if args.workers is not None:
        from .planning.sweep import local_pool
        return local_pool(args.workers)   # the pool afdecomp.plan makes itself, with K workers
    return None


def cmd_plan(args) -> None:
    import contextlib
    import inspect

    import pandas as pd

    from .planning import plan
    path = Path(args.plan)
    kw, target = _read_plan(path)
    if args.replicates is not None:
        kw["replicates"] = args.replicates
    if args.method is not None:
        kw["method"] = args.method
    given = {**{k: p.default for k, p in inspect.signature(plan).parameters.items()}, **kw}
    print(f"read {path}: {len(kw['designs'])} design(s), {given['replicates']} replicate(s) each, "
          f"method {given['method']}" + (f", store {kw['store']}" if "store" in kw else ""))
    executor = _plan_executor(args)
    with executor if executor is not None else contextlib.nullcontext():
        res = plan(executor=executor, progress=False if args.no_progress else None, **kw)
    summary, best = res.summary(), res.cheapest(target)
    ints = {c: "Int64" for c, t in summary.dtypes.items() if pd.api.types.is_integer_dtype(t)}  # NaN in `best`
    cheapest = f"cheapest design per question and model with power >= {target:g} (-: no design here reaches it)"
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.max_rows", 200):
        for title, table in (("summary", summary), (cheapest, best)):
            print(f"{title}:")
            print(table.round(3).astype(ints).astype(object).fillna("-").to_string(index=False))
    if args.out:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        summary.to_csv(out / "summary.csv", index=False)
        res.replicates.to_parquet(out / "replicates.parquet", index=False)
        best.to_csv(out / "cheapest.csv", index=False)
        ax = res.plot(target=target)
        ax.figure.savefig(out / "power.png", dpi=150, bbox_inches="tight")
        plt.close(ax.figure)
        print(f"summary.csv, replicates.parquet, cheapest.csv and power.png -> {out}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="afdecomp", description="Measure why language models fake alignment.")
    p.add_argument("--traceback", action="store_true", help="show full tracebacks on errors")
    p.add_argument("--version", action="version", version=f"afdecomp {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("simulate", help="write synthetic logs drawn from the rational-agent model")
    s.add_argument("--out", required=True, help="output .parquet/.jsonl/.csv")
    s.add_argument("--preset", choices=["example"], help="the bundled example study's exact settings")
    s.add_argument("--models", type=int, default=6)
    s.add_argument("--queries", type=int, default=50)
    s.add_argument("--samples", type=int, default=5)
    s.add_argument("--variants", default="default", help="comma-separated names, or 'published'")
    s.add_argument("--steer", action="append", metavar="VECTOR:LAYER:C1,C2,...",
                   help="a steering sweep, e.g. values:16:-2,-1,1,2 (repeatable; random-<k> = control)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--truth", help="also write the true gaps (CSV) and parameters")
    s.set_defaults(func=cmd_simulate)

    s = sub.add_parser("ingest", help="read and validate logs, print the load report, convert to Parquet")
    _add_load_args(s)
    s.add_argument("--out", help="write the tidy table here (.parquet, .jsonl or .csv)")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("fit", help="fit a model to logs and save its posterior")
    fit = s.add_subparsers(dest="model", required=True)
    f = fit.add_parser("gap", help="hierarchical compliance-gap model (afdecomp.ComplianceGap)")
    _add_load_args(f)
    f.add_argument("--out", required=True, help="results file (.nc)")
    _add_fit_args(f, draws=None)
    f.add_argument("--ci-prob", "--hdi-prob", dest="ci_prob", type=float, default=0.94,
                   help="posterior interval probability of the printed summary (default: 0.94)")
    f.set_defaults(func=cmd_fit_gap)

    f = fit.add_parser("rational", help="the rational-agent model (values, sycophancy, goal guarding)")
    _add_load_args(f)
    f.add_argument("--out", required=True, help="posterior NetCDF file")
    f.add_argument("--catalog", help="catalog TOML declaring your prompt variants' cues and vectors")
    f.add_argument("--covariate", action="append", help="model-level covariate column (repeatable)")
    f.add_argument("--no-goal-guarding", action="store_true", help="fit the model without g")
    _add_fit_args(f, draws=None)
    f.set_defaults(func=cmd_fit_rational)

    s = sub.add_parser("label", help="label generations with a judge (compliance, AF reasoning, ...)")
    _add_load_args(s)
    s.add_argument("--task", action="append", required=True,
                   help="compliance, af_reasoning, partial_compliance or a task TOML file (repeatable)")
    _add_judge_args(s)
    s.add_argument("--out", required=True, help="the vote store (JSONL; resumed when it exists)")
    s.add_argument("--all", action="store_true",
                   help="judge every record, also those a decision tag already labelled")
    s.add_argument("--table", help="also write the labelled table here (.parquet, .jsonl or .csv)")
    s.add_argument("--limit", type=int, help="judge only the first N records (a trial run)")
    s.set_defaults(func=cmd_label)

    s = sub.add_parser("validate-judge", help="score a judge against human labels (AUROC, ROC, calibration)")
    s.add_argument("labelled", help="JSONL of labelled texts, e.g. gold_106.jsonl ({text, label} per line)")
    s.add_argument("--task", default="af_reasoning", help="the judge task (default: af_reasoning)")
    _add_judge_args(s)
    s.add_argument("--out", required=True, help="folder for validation.json, scores.csv and the figures")
    s.add_argument("--store", help="vote store (default: OUT/votes.jsonl; resumed when it exists)")
    s.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    s.add_argument("--label-field", default="label", help="field holding the human label (default: label)")
    s.add_argument("--positive", help="the label value meaning 'yes' (default: recognised spellings)")
    s.add_argument("--limit", type=int, help="only the first N items (a trial run)")
    s.set_defaults(func=cmd_validate_judge)

    s = sub.add_parser("report", help="write a report folder (tables, figures, index.md/html)")
    _add_load_args(s)
    s.add_argument("--out", required=True, help="report folder")
    s.add_argument("--sections", help="comma-separated section keys among data, labels, seed_sem, gap, joint, "
                   "rational, decomposition, steering (default: all); the fits a section needs are made whatever is chosen")
    s.add_argument("--catalog", help="catalog TOML declaring your prompt variants' cues and vectors")
    s.add_argument("--labels", action="append", metavar="STORE",
                   help="vote store from `afdecomp label`: apply its labels first (repeatable)")
    s.add_argument("--judge-validation", action="append", metavar="JSON",
                   help="validation.json from `afdecomp validate-judge`: show the judge's measured accuracy")
    s.add_argument("--transcripts", action="store_true",
                   help="also write the transcript browser (OUT/transcripts/index.html: every generation's query, "
                        "reasoning, output, labels and votes, filterable and searchable) and link the figures to it")
    _add_fit_args(s, draws=None)
    s.add_argument("--fit", action="append", metavar="FILE",
                   help="a fit saved by `afdecomp fit gap|rational --out FILE` of the same logs: used instead of "
                        "fitting that model again (repeatable)")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("generate", help="run a study on local models (needs the [sampler] extra)")
    s.add_argument("config", help="run configuration (TOML; see examples/tiny.toml)")
    s.add_argument("--out", help="the JSONL log (resumed when it exists)")
    s.add_argument("--show-prompt", metavar="VARIANT", help="print the prompt of a variant and exit")
    s.add_argument("--workers", type=int, help="worker processes, one per device (default: the config's)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_generate)

    s = sub.add_parser("plan", help="power of candidate designs from simulated studies (afdecomp.plan)")
    s.add_argument("plan", metavar="PLAN.toml", help="the designs, assumed truth and settings (see docs/planning.md)")
    s.add_argument("--out", metavar="DIR",
                   help="folder for summary.csv, replicates.parquet, cheapest.csv and power.png")
    s.add_argument("--replicates", type=int, metavar="N",
                   help="studies simulated per design (default: the file's, else afdecomp.plan's)")
    s.add_argument("--method", metavar="M",
                   help="estimator fitted to each replicate: glm, fast or nuts (default: the file's, else afdecomp.plan's)")
    s.add_argument("--workers", type=int, metavar="K", help="local worker processes (default: one per core)")
    s.add_argument("--dask", metavar="ADDRESS", help="run the replicates on this Dask scheduler (needs [dask])")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_plan)

    s = sub.add_parser("steer", help="build steering vectors and random controls (needs [sampler])")
    ssub = s.add_subparsers(dest="steer_command", required=True)
    b = ssub.add_parser("build", help="contrastive mean-difference vector from an A/B dataset")
    b.add_argument("--data", required=True, help="A/B pairs (.json/.jsonl: question, "
                   "answer_matching_behavior, answer_not_matching_behavior)")
    b.add_argument("--out", required=True, help="output .npz")
    b.add_argument("--name", required=True, help="vector name as used in configs and logs")
    b.add_argument("--model", help="hub id or path; with --config, the name of a [[models]] entry")
    b.add_argument("--config", help="take the model from this run configuration")
    b.add_argument("--layers", help="comma-separated decoder layers (default: all)")
    b.add_argument("--holdout", type=float, default=0.2, help="share of pairs held out for the check")
    b.add_argument("--seed", type=int, default=0, help="seed of the held-out split")
    b.add_argument("--device", default=None, help="cpu, cuda:0, ... (default: first GPU, else CPU)")
    b.set_defaults(func=cmd_steer_build)
    r = ssub.add_parser("random", help="seeded random unit directions (matched controls)")
    r.add_argument("--seed", type=int, required=True)
    r.add_argument("--out", required=True, help="output .npz")
    r.add_argument("--like", help="match the hidden size, layers and model of this vector file")
    r.add_argument("--hidden-size", type=int)
    r.add_argument("--layers", help="comma-separated layers")
    r.set_defaults(func=cmd_steer_random)
    return p


def _version() -> str:
    from . import __version__
    return __version__


def main(argv=None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    try:
        args.func(args)
    except KeyboardInterrupt:
        print("afdecomp: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one line for the user; --traceback for developers
        if args.traceback:
            raise
        print(f"afdecomp {args.command}: error: {_one_line(e)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
