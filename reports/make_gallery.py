"""Run the report scripts and collect one PNG per figure into docs/figures/gallery/.

Writes ``docs/figures/gallery/<script>__<figure>.png`` (small PNGs, --dpi 110 by default) and
``docs/figures/gallery/index.json``: per figure ``png`` (the file), ``title``, ``caption``,
``script`` (the command that made it), ``name`` and ``figure`` (script and figure names) and
``fits`` (the fit diagnostics the script printed). The documentation's gallery page is
built from that index.

Example: python reports/make_gallery.py --draws 500            # run every script, then collect
         python reports/make_gallery.py --no-run                # collect from reports/out/ only
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GALLERY = REPO / "docs" / "figures" / "gallery"
#: The scripts in gallery order, and whether they fit MCMC models (take --draws/--tune).
SCRIPTS = {"three_drivers": True, "vlaf_values": True, "aristo240": True, "judge_validation": False}
#: Further arguments per script. (three_drivers --covariate x_stated_values fits the example's
#: covariate structurally; at 2 x 2000 draws that fit had 12 divergences, so the gallery shows
#: the descriptive line of the converged fit without it.)
EXTRA: dict[str, list[str]] = {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python reports/make_gallery.py", description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=list(SCRIPTS), help="run these scripts only (default: all)")
    ap.add_argument("--no-run", action="store_true", help="collect from reports/out/ without running the scripts")
    ap.add_argument("--draws", type=int, default=None, help="--draws for the scripts that fit (default: theirs)")
    ap.add_argument("--tune", type=int, default=None, help="--tune for the scripts that fit (default: theirs)")
    ap.add_argument("--dpi", type=int, default=110, help="PNG resolution of the gallery copies")
    ap.add_argument("--out", type=Path, default=REPO / "reports" / "out", help="the scripts' output root")
    ap.add_argument("--gallery", type=Path, default=GALLERY, help="where the PNGs and index.json go")
    args = ap.parse_args(argv)

    names = args.only or list(SCRIPTS)
    index_path = args.gallery / "index.json"
    old = json.loads(index_path.read_text()) if index_path.exists() else []
    entries = [e for e in old if e.get("name") not in names]  # figures of scripts not rerun are kept
    args.gallery.mkdir(parents=True, exist_ok=True)
    for name in names:
        out = args.out / name
        cmd = [sys.executable, str(REPO / "reports" / f"{name}.py"), "--out", str(out), "--dpi", str(args.dpi)]
        cmd += EXTRA.get(name, [])
        if SCRIPTS[name]:
            cmd += (["--draws", str(args.draws)] if args.draws else []) + (["--tune", str(args.tune)] if args.tune else [])
        shown = "python " + " ".join(str(Path(c).relative_to(REPO)) if str(c).startswith(str(REPO)) else str(c)
                                     for c in cmd[1:])
        fits = []
        if not args.no_run:
            print(f"$ {shown}", flush=True)
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            sys.stdout.write(proc.stdout)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-4000:])
                print(f"error: {name} failed (exit {proc.returncode})", file=sys.stderr)
                return 1
            fits = [line for line in proc.stdout.splitlines() if line.startswith("fit ")]
            (out / "fits.txt").write_text("\n".join(fits) + ("\n" if fits else ""))
            (out / "command.txt").write_text(shown + "\n")
        else:
            if (out / "fits.txt").exists():
                fits = (out / "fits.txt").read_text().splitlines()
            if (out / "command.txt").exists():
                shown = (out / "command.txt").read_text().strip()
        figures = json.loads((out / "figures.json").read_text())
        for stale in args.gallery.glob(f"{name}__*.png"):
            stale.unlink()
        for f in figures:
            dest = args.gallery / f"{name}__{f['name']}.png"
            shutil.copyfile(out / f"{f['name']}.png", dest)
            entries.append({"png": dest.name, "title": f["title"], "caption": f["caption"], "script": shown,
                            "name": name, "figure": f["name"], "fits": fits})
            print(f"gallery: {_rel(dest)} ({dest.stat().st_size / 1024:.0f} kB)")
    order = {n: i for i, n in enumerate(SCRIPTS)}
    entries.sort(key=lambda e: order.get(e.get("name"), len(order)))
    index_path.write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {_rel(index_path)} ({len(entries)} figures)")
    return 0


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
