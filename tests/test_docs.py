"""The documentation site: strict build (links, docstrings, the executed tutorial), API coverage of
``afdecomp.__all__``, the catalog page's example, the gallery hook and CITATION.cff.

The build runs the tutorial notebook (a small gap fit); on two shared cores it takes 1-2 minutes.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import afdecomp

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """``mkdocs build --strict`` into a temporary folder; the test fails with the build's warnings."""
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "MPLBACKEND": "Agg", "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        problems = [ln for ln in log.splitlines() if ln.startswith(("WARNING", "ERROR"))]
        pytest.fail("mkdocs build --strict failed:\n" + "\n".join(problems or log.splitlines()[-40:]))
    return out


def test_site_builds_in_strict_mode(site):
    for page in ("index.html", "concepts/index.html", "catalog/index.html", "tutorial/index.html",
                 "gallery/index.html", "api/estimators/index.html"):
        assert (site / page).is_file(), page


def test_equations_are_mathml(site):
    text = (site / "concepts" / "index.html").read_text(encoding="utf-8")
    assert text.count("<math") >= 10
    assert 'class="arithmatex"' not in text  # every formula was converted


def test_tutorial_was_executed(site):
    text = (site / "tutorial" / "index.html").read_text(encoding="utf-8")
    # outputs that exist only after execution: the fitted summary's columns and a figure
    assert "rate_training" in text and "gap_hi" in text
    assert "data:image/png;base64" in text
    assert "Traceback" not in text


def _sections(pages: list[Path], ids: list[str]) -> dict[str, str]:
    """id -> the HTML from that entry's anchor to the next listed anchor on the same page."""
    out = {}
    for page in pages:
        text = page.read_text(encoding="utf-8")
        found = sorted((m.start(), i) for i in ids for m in [re.search(rf'id="{re.escape(i)}"', text)] if m)
        for j, (start, ident) in enumerate(found):
            end = found[j + 1][0] if j + 1 < len(found) else len(text)
            out[ident] = text[start:end]
    return out


def _parameter_table(section: str) -> list[str]:
    """The names in an entry's own rendered "Parameters" table (mkdocstrings' table style; for a
    class, the one before its members' entries)."""
    own = section.split('class="doc doc-children"')[0]
    start = own.find('doc-section-title">Parameters:')
    if start < 0:
        return []
    table = own[start:own.find("</table>", start)]
    return re.findall(r'<tr class="doc-section-item">\s*<td>\s*<code>([^<]+)</code>', table)


def test_every_public_name_has_a_reference_entry_with_its_parameters(site):
    api_md = "\n".join(p.read_text(encoding="utf-8") for p in sorted((DOCS / "api").glob("*.md"))) + "\n"

    def own_path(obj) -> str:
        return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"

    # a function named like a module (afdecomp.aggregate, .simulate) is listed by its own path
    missing_md = [n for n in afdecomp.__all__ if f"::: afdecomp.{n}\n" not in api_md
                  and f"::: {own_path(getattr(afdecomp, n))}\n" not in api_md]
    assert not missing_md, f"names of afdecomp.__all__ without an entry in docs/api/*.md: {missing_md}"

    pages = sorted((site / "api").rglob("index.html"))
    names = {f"afdecomp.{n}": getattr(afdecomp, n) for n in afdecomp.__all__}
    names |= {f"afdecomp.plot.{n}": getattr(afdecomp.plot, n) for n in afdecomp.plot.__all__}
    # an entry may sit under the public name or the object's own path (afdecomp.plot.rates.rates:
    # a plot function named like its submodule is documented through the submodule)
    ids = {name: ([own_path(obj)] if hasattr(obj, "__qualname__") else []) + [name]
           for name, obj in names.items()}
    sections = _sections(pages, sorted({i for v in ids.values() for i in v}))
    found = {name: next((sections[i] for i in v if i in sections), None) for name, v in ids.items()}
    absent = [n for n, sec in found.items() if sec is None]
    assert not absent, f"no entry in the built API reference for {absent}"
    lacking = {}
    for full, obj in names.items():
        if inspect.ismodule(obj) or not callable(obj):
            continue
        # in the entry's Parameters table, not merely in its signature
        table = set(_parameter_table(found[full]))
        miss = [p for p in _signature_parameters(obj) if p not in table]
        if miss:
            lacking[full] = miss
    assert not lacking, f"reference entries whose Parameters table lacks parameters: {lacking}"


def _public_objects() -> dict[str, object]:
    """``afdecomp.X`` for X in ``afdecomp.__all__`` and ``afdecomp.plot.X`` for the plot functions."""
    names = {f"afdecomp.{n}": getattr(afdecomp, n) for n in afdecomp.__all__}
    names |= {f"afdecomp.plot.{n}": getattr(afdecomp.plot, n) for n in afdecomp.plot.__all__}
    return names


def _signature_parameters(obj) -> list[str]:
    """Named parameters a user passes: no ``self``/``cls``, no ``*args``/``**kwargs``."""
    try:
        sig = inspect.signature(obj)  # a class: its constructor's parameters, without self
    except (TypeError, ValueError):
        return []
    var = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    return [p.name for p in sig.parameters.values() if p.kind not in var and p.name not in ("self", "cls")]


def _documented_parameters(obj) -> tuple[bool, set[str]]:
    """(has a numpy "Parameters" section, the names it documents) of a function, or of a class's
    docstring together with its own ``__init__``'s (mkdocstrings merges the two)."""
    import logging

    from griffe import Docstring, DocstringSectionKind

    docs = [inspect.getdoc(obj)]
    if inspect.isclass(obj) and "__init__" in vars(obj):
        docs.append(inspect.getdoc(vars(obj)["__init__"]))
    kinds = (DocstringSectionKind.parameters, DocstringSectionKind.other_parameters)
    has, names = False, set()
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # griffe warns about types it cannot resolve out of context
    try:
        for doc in filter(None, docs):
            for section in Docstring(doc).parse("numpy"):
                if section.kind in kinds:
                    has = True
                    names |= {p.name.lstrip("*") for p in section.value}
    finally:
        logging.disable(previous)
    return has, names


def test_every_public_callable_documents_its_parameters():
    """Each public function or class taking parameters has a numpy "Parameters" section naming
    every one of them (and none it does not take), so its reference entry shows them all."""
    lacking, stale = {}, {}
    for full, obj in _public_objects().items():
        if inspect.ismodule(obj) or not callable(obj):
            continue
        params = _signature_parameters(obj)
        has, documented = _documented_parameters(obj)
        miss = [p for p in params if p not in documented]
        if params and (miss or not has):
            lacking[full] = miss
        var = {p.name for p in inspect.signature(obj).parameters.values()
               if p.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}
        extra = sorted(documented - set(params) - var)
        if extra:
            stale[full] = extra
    assert not lacking, f"parameters without an entry in a numpy 'Parameters' section: {lacking}"
    assert not stale, f"'Parameters' sections naming parameters the signature does not have: {stale}"


def test_every_public_name_is_in_the_api_pages():
    """Each public name has a mkdocstrings entry (``::: afdecomp.X``, its own path) or belongs to a
    module documented whole (``::: afdecomp.plot`` documents ``afdecomp.plot.__all__``). A function
    named like a submodule (``afdecomp.label`` is the function, ``afdecomp/label/`` the package)
    needs its own path: mkdocstrings reads ``::: afdecomp.label`` as the package."""
    entries = set(re.findall(r"^::: *([\w.]+) *$", "\n".join(
        p.read_text(encoding="utf-8") for p in sorted((DOCS / "api").glob("*.md"))), re.M))
    assert entries, "docs/api/*.md hold no mkdocstrings entry"
    missing = []
    for full, obj in _public_objects().items():
        namespace, _, name = full.rpartition(".")
        own = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
        if not inspect.ismodule(obj) and importlib.util.find_spec(full) is not None:  # shadows a submodule
            ok = own in entries
        else:
            ok = bool({full, own} & entries) or (namespace != "afdecomp" and namespace in entries
                                                 and not name.startswith("_"))
        if not ok:
            missing.append(full)
    assert not missing, f"public names without an entry in docs/api/*.md: {missing}"


def _catalog_example() -> str:
    text = (DOCS / "catalog.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "docs/catalog.md should hold exactly one TOML example"
    return blocks[0]


def test_catalog_page_example_loads(tmp_path):
    path = tmp_path / "my_variants.toml"
    path.write_text(_catalog_example(), encoding="utf-8")
    cat = afdecomp.load_catalog(path)
    table = cat.cue_table(["default", "no-training-talk", "friendly-developer", "bare", "drastic-retraining"])
    assert table.loc["no-training-talk"].to_dict() == {"values": 1.0, "goal_guarding": 0.0,
                                                       "sycophancy": 1.0, "stakes": 1.0}
    assert table.loc["friendly-developer", "sycophancy"] == 0.5
    assert table.loc["bare", ["values", "goal_guarding"]].tolist() == [0.0, 0.0]
    assert table.loc["drastic-retraining", "stakes"] == 3.0
    assert cat.vector("honesty").driver == "values" and cat.vector("shuffled").driver == "control"
    assert "cut-provenance" in cat.variants  # extends the built-in catalog
    assert set(afdecomp.load_catalog(path, extend=False).variants) == {
        "no-training-talk", "friendly-developer", "bare", "drastic-retraining"}
    # the page's rows of cue_table, as printed there
    page = (DOCS / "catalog.md").read_text(encoding="utf-8")
    for name in ("default", "no-training-talk", "bare"):
        shown = re.search(rf"^# {re.escape(name)} +([\d. ]+)$", page, re.M)
        assert shown, name
        assert [float(x) for x in shown[1].split()] == table.loc[name].tolist()
    # usable by the simulator, steering vector included
    sim, _ = afdecomp.simulate(n_models=2, n_queries=3, n_samples=1, variants=["default", "bare"],
                               steering=[{"vector": "honesty", "layer": 1, "coefs": [1.0]}],
                               catalog=cat, seed=0)
    assert set(sim["variant"].astype(str)) == {"default", "bare"}
    assert "honesty" in set(sim["steer_vector"].astype(str))


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "scripts" / "docs_hooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gallery_page_from_index(tmp_path):
    hooks = _hooks()
    assert "No gallery yet" in hooks.gallery_markdown(tmp_path)  # no folder: a note, no failure
    folder = tmp_path / "figures" / "gallery"
    folder.mkdir(parents=True)
    (folder / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "index.json").write_text(
        '[{"file": "a.png", "title": "Gap per value", "caption": "94% intervals, $5 each.", '
        '"script": "vlaf_values", "command": "python reports/vlaf_values.py --out x", '
        '"fits": ["fit A: converged"]}]', encoding="utf-8")
    md = hooks.gallery_markdown(tmp_path)
    assert "## `reports/vlaf_values.py`" in md and "### Gap per value" in md
    assert "](figures/gallery/a.png)" in md and "- fit A: converged" in md
    assert "94% intervals, &#36;5 each." in md and "`python reports/vlaf_values.py --out x`" in md
    # reports/make_gallery.py's keys: "script" holds the command, "name" the script
    (folder / "index.json").write_text(
        '[{"png": "a.png", "title": "T", "caption": "C", "name": "aristo240", '
        '"script": "python reports/aristo240.py --out reports/out/aristo240"}]', encoding="utf-8")
    md = hooks.gallery_markdown(tmp_path)
    assert "## `reports/aristo240.py`" in md and "Made by `python reports/aristo240.py --out" in md
    (folder / "index.json").write_text('{"figures": [{"png": "missing.png"}]}', encoding="utf-8")
    with pytest.raises(ValueError, match="missing.png"):
        hooks.gallery_markdown(tmp_path)


def test_bad_equation_fails_the_build():
    hooks = _hooks()

    class Heading:  # mimics mkdocs' toc.AnchorLink
        def __init__(self, title, children=()):
            self.title, self.children = title, list(children)

    class Page:
        # on_page_content reads page.toc: a heading holding an equation shows its TeX source there
        toc = [Heading("Why gaps shrink by \\(se + sp - 1\\)", [Heading("Sub \\(a^2\\) and \\(b\\)")])]

        class file:  # noqa: N801 - mimics mkdocs' page.file
            src_uri = "x.md"

    ok = hooks.on_page_content('<span class="arithmatex">\\(a^2\\)</span>', Page, None, None)
    assert ok.startswith("<math") and "<msup>" in ok
    assert Page.toc[0].title == "Why gaps shrink by se + sp - 1"
    assert Page.toc[0].children[0].title == "Sub a^2 and b"
    for bad in ("a^", "\\left( a", "\\unknowncmd{x}"):
        with pytest.raises(ValueError, match="x.md"):
            hooks.on_page_content(f'<span class="arithmatex">\\({bad}\\)</span>', Page, None, None)


def test_citation_cff():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    for key in ("cff-version", "message", "title", "authors"):  # required by CFF 1.2.0
        assert cff.get(key), key
    assert cff["cff-version"] == "1.2.0"
    assert all(isinstance(a, dict) and (a.get("name") or a.get("family-names")) for a in cff["authors"])
    assert str(cff["version"]) == afdecomp.__version__
    assert cff["license"] == "MIT"


def test_changelog_names_this_version():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "Keep a Changelog" in text
    assert re.search(rf"^## \[{re.escape(afdecomp.__version__)}\]", text, re.M)
