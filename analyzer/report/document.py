"""A report written once as markdown and rendered to self-contained HTML by markdown-it-py."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd
from markdown_it import MarkdownIt

__all__ = ["Document", "escape", "markdown_to_html"]

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 1.5rem auto;
       padding: 0 1rem; line-height: 1.45; color: #222; }
h1, h2, h3 { line-height: 1.2; }
h1 { margin: 0 0 .8rem; }
pre { background: #f4f4f4; padding: .6rem .8rem; overflow-x: auto; }
code { background: #f4f4f4; padding: 0 .2rem; }
table { border-collapse: collapse; font-size: .9rem; margin: .5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; }
th { background: #eee; }
figure { margin: 1rem 0; }
img { max-width: 100%; height: auto; }
figcaption { font-size: .9rem; color: #555; }
.lead { display: flex; flex-wrap: wrap; gap: 1.5rem; align-items: center;
        border: 1px solid #ddd; border-radius: .4rem; padding: 1rem 1.2rem; background: #fafafa; }
.lead .answer { flex: 1 1 22rem; font-size: 1.08rem; }
.lead figure { flex: 1 1 30rem; margin: 0; }
"""

# Characters that markdown would read as markup in a table cell or a heading.
_SPECIAL = re.compile(r"[\\`*<|]|\](?=\()|^#|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def escape(text: Any) -> str:
    """Text that markdown shows as written: markup characters escaped, newlines as spaces.

    Underscores inside words (``one_layer``) are left alone: markdown does not read them.

    Examples
    --------
    >>> escape("H**3*N | one_layer")
    'H\\\\*\\\\*3\\\\*N \\\\| one_layer'
    """
    return _SPECIAL.sub(lambda m: "\\" + m.group(0), str(text)).replace("\n", " ")


def _renderer() -> MarkdownIt:
    # commonmark with tables; raw HTML in the text is shown as text, never passed through
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def markdown_to_html(text: str, images: dict[str, bytes] | None = None) -> str:
    """``text`` as HTML; an image whose link is a key of ``images`` is embedded as base64 PNG.

    Examples
    --------
    >>> markdown_to_html("**a** `b`\\n\\n| x |\\n| --- |\\n| 1 |")
    '<p><strong>a</strong> <code>b</code></p>\\n<table>\\n<thead>\\n<tr>\\n<th>x</th>...'
    >>> markdown_to_html("![plot](p.png)", {"p.png": b"PNG"})
    '<p><img src="data:image/png;base64,UE5H" alt="plot" /></p>\\n'
    """
    md = _renderer()
    embedded = images or {}
    default_image = md.renderer.rules["image"]

    def image(self, tokens, idx, options, env):
        token = tokens[idx]
        src = token.attrGet("src")
        if isinstance(src, str) and src in embedded:
            token.attrSet(
                "src", "data:image/png;base64," + base64.b64encode(embedded[src]).decode()
            )
        return default_image(tokens, idx, options, env)

    md.add_render_rule("image", image)
    # markdown-it refuses data: URLs in links it parses; these are set after parsing
    return md.render(str(text))


def _md_table(df: pd.DataFrame) -> str:
    header = "| " + " | ".join(escape(c) for c in df.columns) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    rows = ["| " + " | ".join(escape(v) for v in row) + " |" for row in df.itertuples(False)]
    return "\n".join([header, rule, *rows])


class Document:
    """A report as a list of markdown blocks; :meth:`html_text` renders them with markdown-it.

    The *lead* block (the answer beside its figure) is the same markdown as any other block;
    in HTML it is set side by side.

    Examples
    --------
    >>> doc = Document()
    >>> doc.heading(1, "demo")
    >>> doc.markdown("Input-first costs **more**.")
    >>> print(doc.markdown_text())
    # demo
    <BLANKLINE>
    Input-first costs **more**.
    <BLANKLINE>
    >>> "<strong>more</strong>" in doc.html_text("demo")
    True
    """

    def __init__(self) -> None:
        self.blocks: list[tuple[str, str]] = []  # (kind, markdown)
        self.images: dict[str, bytes] = {}
        self._figures: dict[int, tuple[str, str]] = {}  # block index: (link, caption)

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("md", f"{'#' * level} {escape(text)}"))

    def markdown(self, text: str) -> None:
        if str(text).strip():
            self.blocks.append(("md", str(text).strip("\n")))

    def code(self, text: str) -> None:
        fence = "````" if "```" in text else "```"
        self.blocks.append(("md", f"{fence}\n{text}\n{fence}"))

    def bullets(self, items: Iterable[str]) -> None:
        items = [str(i).replace("\n", " ") for i in items]
        if items:
            self.blocks.append(("md", "\n".join(f"- {i}" for i in items)))

    def table(self, df: pd.DataFrame) -> None:
        self.blocks.append(("md", _md_table(df)))

    def image(self, name: str, caption: str, png: bytes) -> None:
        self.images[name] = png
        self._figures[len(self.blocks)] = (name, caption)
        self.blocks.append(("md", f"![{escape(caption)}]({name})"))

    def lead(self, text: str, name: str | None, caption: str, png: bytes | None) -> None:
        """The answer in a sentence or two, beside the one figure that shows it."""
        figure = ""
        if name is not None and png is not None:
            self.images[name] = png
            figure = f"\n\n![{escape(caption)}]({name})"
        self.blocks.append(("lead", str(text).strip("\n") + figure))  # the figure comes last
        if figure:
            self._figures[len(self.blocks) - 1] = (name, caption)

    def markdown_text(self) -> str:
        return "\n\n".join(text for _, text in self.blocks) + "\n"

    def _figure_html(self, name: str, caption: str) -> str:
        data = base64.b64encode(self.images[name]).decode("ascii")
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def html_text(self, title: str) -> str:
        parts = []
        for i, (kind, text) in enumerate(self.blocks):
            figure = self._figures.get(i)
            if kind == "lead":
                answer = text.rsplit("\n\n![", 1)[0] if figure else text
                inner = f'<div class="answer">{markdown_to_html(answer)}</div>'
                if figure:
                    inner += self._figure_html(*figure)
                parts.append(f'<section class="lead">{inner}</section>')
            elif figure:
                parts.append(self._figure_html(*figure))
            else:
                parts.append(markdown_to_html(text, self.images))
        body = "\n".join(parts)
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n"
        )
