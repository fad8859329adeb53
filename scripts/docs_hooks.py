"""MkDocs hooks of the documentation site (mkdocs.yml ``hooks:``).

- The gallery page (``docs/gallery.md``) is filled from ``docs/figures/gallery/index.json``, the
  list the report scripts write; without that file the page says so and the build goes on.
- Equations written as ``$...$`` / ``$$...$$`` (pymdownx.arithmatex, generic mode) become MathML
  at build time with latex2mathml: the pages need no JavaScript or network to show them, and a
  formula latex2mathml cannot read fails the build instead of showing raw TeX.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from latex2mathml.converter import convert

GALLERY_MARK = "<!-- gallery -->"
GALLERY_DIR = "figures/gallery"

_BLOCK = re.compile(r'<div class="arithmatex">\s*\\\[(.*?)\\\]\s*</div>', re.S)
_INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.S)


def _mathml(tex: str, display: str, page: str) -> str:
    tex = html.unescape(tex).strip()
    try:
        out = convert(tex, display=display)
    except Exception as e:  # noqa: BLE001 - any parser error is a broken page
        raise ValueError(f"{page}: equation not understood by latex2mathml ({e!r}): {tex}") from None
    unknown = re.findall(r">(\\[A-Za-z]+)<", out)  # a command it does not know is kept as text
    if unknown:
        raise ValueError(f"{page}: unknown LaTeX command(s) {sorted(set(unknown))} in: {tex}")
    return out


# Sphinx cross-reference roles in docstrings (``:func:`x` ``) render as "<code>x</code>"
_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|obj|exc|const):(<code>)~?")


_TOC_MATH = re.compile(r"\\\((.*?)\\\)")


def _plain_toc(items) -> None:
    """Headings with an equation: the table of contents shows its TeX source without delimiters."""
    for item in items:
        item.title = _TOC_MATH.sub(lambda m: m[1].strip(), item.title)
        _plain_toc(item.children)


def on_page_content(html_text: str, page, config, files) -> str:  # noqa: ARG001
    where = page.file.src_uri
    _plain_toc(page.toc)
    html_text = _ROLE.sub(r"\1", html_text)
    html_text = _BLOCK.sub(lambda m: f'<div class="math-display">{_mathml(m[1], "block", where)}</div>',
                           html_text)
    return _INLINE.sub(lambda m: _mathml(m[1], "inline", where), html_text)


def _entries(index: Path) -> list[dict]:
    data = json.loads(index.read_text(encoding="utf-8"))
    items = data.get("figures", data) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{index}: expected a list of figures (or {{\"figures\": [...]}})")
    return items


def _field(item: dict, *names: str, default: str = "") -> str:
    for n in names:
        if item.get(n):
            return str(item[n])
    return default


def _text(value) -> str:
    """Caption text as Markdown: a dollar sign is not the start of an equation."""
    return str(value).strip().replace("$", "&#36;")


def gallery_markdown(docs_dir: Path) -> str:
    """The gallery's body: the figures of ``figures/gallery/index.json``, grouped by script.

    Each entry: ``png`` (or ``file``; a PNG in that folder), ``title``, ``caption``, and
    optionally ``name`` (the report script), ``script`` (the command that made it, or the
    script's name), ``command`` and ``fits`` (one line per model fit), as
    ``reports/make_gallery.py`` writes them.
    """
    folder = docs_dir / GALLERY_DIR
    index = folder / "index.json"
    if not index.is_file():
        return ("!!! note \"No gallery yet\"\n"
                f"    `docs/{GALLERY_DIR}/index.json` does not exist in this checkout, so there is no "
                "figure to show. The report scripts in `reports/` write it (each figure's PNG and "
                "one entry per figure); build the site again after running them.\n")
    groups: dict[str, list[str]] = {}
    for i, item in enumerate(_entries(index)):
        if not isinstance(item, dict):
            raise ValueError(f"{index}: entry {i} is not an object")
        png = _field(item, "png", "file", "image", "path")
        if not png:
            raise ValueError(f"{index}: entry {i} names no image (key 'file')")
        png = png.removeprefix(f"docs/{GALLERY_DIR}/").removeprefix(f"{GALLERY_DIR}/")
        if not (folder / png).is_file():
            raise ValueError(f"{index}: entry {i}: {GALLERY_DIR}/{png} does not exist")
        title = _text(_field(item, "title", "name", default=Path(png).stem))
        # "script" is the script's name or the command that ran it; "name" the script's name
        script, command = _field(item, "script"), _field(item, "command")
        if " " in script:
            script, command = "", command or script
        script = _field(item, "name") or script
        if script and not script.endswith(".py"):
            script = f"reports/{script}.py"
        out = groups.setdefault(script, [])
        out.append(f"### {title}\n")
        out.append(f"![{title}]({GALLERY_DIR}/{png})\n")
        caption = _field(item, "caption", "description")
        if caption:
            out.append(_text(caption) + "\n")
        if command:
            out.append(f"Made by `{command}`.\n")
        fits = item.get("fits") or []
        for fit in [fits] if isinstance(fits, str) else fits:
            out.append(f"- {_text(fit)}")
        if fits:
            out.append("")
    if not groups:
        return "The gallery index lists no figure yet.\n"
    body = []
    for script, parts in groups.items():
        body.append(f"## `{script}`\n" if script else "## Other figures\n")
        body.extend(parts)
    return "\n".join(body)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001
    if page.file.src_uri == "gallery.md" and GALLERY_MARK in markdown:
        return markdown.replace(GALLERY_MARK, gallery_markdown(Path(config["docs_dir"])))
    return markdown
