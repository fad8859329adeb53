"""What every report script shares: its command line, saving figures and tables, and printing.

Each script in ``reports/`` is run as ``python reports/NAME.py [--data PATH] --out DIR``; it
writes every figure as PNG, PDF and SVG (drawn inside :func:`afdecomp.plot.style`), the table
behind it as CSV, and prints what it read, what it wrote and a caption per figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
EXTERNAL = REPO.parent / "shared" / "external_data"
FORMATS = ("png", "pdf", "svg")


def parser(name: str, doc: str, data: Path | None, *, fits: bool = False) -> argparse.ArgumentParser:
    """The command line of a report script: ``--data``, ``--out``, ``--columns``, ``--dpi``, and
    with ``fits`` the MCMC settings (package defaults unless given)."""
    p = argparse.ArgumentParser(prog=f"python reports/{name}.py", description=doc.strip().splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=doc.strip().split("\n", 1)[-1] if "\n" in doc.strip() else None)
    p.add_argument("--data", type=Path, default=data, help=f"input (default: {data})")
    p.add_argument("--out", type=Path, default=REPO / "reports" / "out" / name,
                   help=f"output folder (default: reports/out/{name})")
    p.add_argument("--columns", type=int, choices=(1, 2), default=2,
                   help="figure width: one column (3.4 in) or the page (7.0 in) of a two-column paper")
    p.add_argument("--dpi", type=int, default=200, help="resolution of the PNG files (PDF/SVG are vector)")
    if fits:
        p.add_argument("--draws", type=int, default=None, help="posterior draws per chain (default: each model's own)")
        p.add_argument("--tune", type=int, default=None, help="tuning steps per chain (default: each model's own)")
        p.add_argument("--chains", type=int, default=None, help="chains (default: each model's own, 4)")
        p.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    return p


def settings(args):
    """The fit settings: the package's defaults, changed by ``--draws/--tune/--chains/--seed``."""
    from afdecomp.settings import FitSettings
    return FitSettings(progress=False).replace(draws=args.draws, tune=args.tune, chains=args.chains,
                                               random_seed=args.seed)


class Output:
    """The output folder of one script run: figures, tables, captions, and an index of them."""

    def __init__(self, out: Path, dpi: int = 200):
        self.dir = Path(out)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dpi = dpi
        self.figures: list[dict] = []
        self.tables: list[Path] = []

    def table(self, name: str, table: pd.DataFrame, what: str = "") -> Path:
        path = self.dir / f"{name}.csv"
        table.to_csv(path, index=False)
        self.tables.append(path)
        print(f"wrote {_rel(path)}  ({len(table)} rows{'; ' + what if what else ''})")
        return path

    def figure(self, name: str, fig, title: str, caption: str, table: str | None = None) -> list[Path]:
        """Save ``fig`` as PNG, PDF and SVG (bbox tight: nothing clipped), print its caption."""
        paths = []
        for ext in FORMATS:
            path = self.dir / f"{name}.{ext}"
            fig.savefig(path, dpi=self.dpi if ext == "png" else None, bbox_inches="tight")
            paths.append(path)
        plt.close(fig)
        self.figures.append({"name": name, "title": title, "caption": caption,
                             "files": [p.name for p in paths], "table": f"{table}.csv" if table else None})
        print(f"wrote {', '.join(_rel(p) for p in paths)}")
        print(f"  Figure '{name}': {title}.")
        print("  " + caption.replace("\n", "\n  "))
        return paths

    def finish(self) -> Path:
        path = self.dir / "figures.json"
        path.write_text(json.dumps(self.figures, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {_rel(path)} (title and caption of {len(self.figures)} figure(s))")
        return path


def _rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def figsize(height: float) -> tuple[float, float]:
    """(width of the active paper style, ``height``) in inches, for a figure a script draws itself."""
    return plt.rcParams["figure.figsize"][0], height


def need(path: Path, what: str) -> Path:
    """``path``, or exit with a message naming it and what it should hold."""
    if path is None or not Path(path).exists():
        sys.exit(f"error: {what} not found at {path} (pass --data PATH)")
    return Path(path)


def fit_line(name: str, res, seconds: float) -> str:
    """One printed line per MCMC fit: chains, draws, time and R-hat / ESS / divergences."""
    post = res.idata["posterior"]
    line = (f"fit {name}: {post.sizes['chain']} chains x {post.sizes['draw']} draws, "
            f"{res.idata.attrs.get('sampler', 'NUTS')}, {seconds:.0f} s; {res.diagnostics_line()}")
    print(line)
    return line


def fit(name: str, estimator, data):
    """Fit ``estimator`` to ``data``, print its diagnostics line, return the results. A fit that
    does not converge warns (ConvergenceWarning); the line says NOT converged, and the script
    goes on (the caption's intervals then need more draws)."""
    import time
    t0 = time.perf_counter()
    res = estimator.fit(data)
    fit_line(name, res, time.perf_counter() - t0)
    return res
