"""A report written twice at once: as markdown and as self-contained HTML."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

__all__ = ["Document"]

_BULLET = re.compile(r"^\s*[-*] ")
_CSS = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto;
       padding: 0 1rem; line-height: 1.45; color: #222; }
h1, h2, h3 { line-height: 1.2; }
pre { background: #f4f4f4; padding: .6rem .8rem; overflow-x: auto; }
code { background: #f4f4f4; padding: 0 .2rem; }
table { border-collapse: collapse; font-size: .9rem; margin: .5rem 0 1rem; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; }
th { background: #eee; }
figure { margin: 1rem 0; }
img { max-width: 100%; height: auto; }
figcaption { font-size: .9rem; color: #555; }
"""

# ----------------------------------------------------------------------------- documents


def _inline(text: str) -> str:
    """A small subset of inline markdown as HTML: code spans, bold, italics, links."""
    out = []
    for i, piece in enumerate(re.split(r"`([^`]*)`", text)):
        if i % 2:
            out.append(f"<code>{html.escape(piece)}</code>")
            continue
        piece = html.escape(piece, quote=True)
        piece = re.sub(r"\*\*(\S(?:.*?\S)?)\*\*", r"<strong>\1</strong>", piece)
        piece = re.sub(r"(?<![\w*])\*(?![\s*])(.+?)(?<![\s*])\*(?![\w*])", r"<em>\1</em>", piece)
        piece = re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", r'<a href="\2">\1</a>', piece)
        out.append(piece)
    return "".join(out)


def _markdown_html(text: str) -> str:
    """Paragraphs, ``-`` lists and fenced code of a markdown text as HTML."""
    out: list[str] = []
    lines = str(text).strip("\n").splitlines()
    block: list[str] = []

    def flush() -> None:
        if not block:
            return
        if all(_BULLET.match(line) for line in block):
            items = "".join(f"<li>{_inline(_BULLET.sub('', b))}</li>" for b in block)
            out.append(f"<ul>{items}</ul>")
        else:
            out.append(f"<p>{_inline(' '.join(b.strip() for b in block))}</p>")
        block.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("```"):
            flush()
            code = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                code.append(lines[i])
                i += 1
            out.append(f"<pre><code>{html.escape(chr(10).join(code))}</code></pre>")
        elif not line.strip():
            flush()
        else:
            block.append(line)
        i += 1
    flush()
    return "\n".join(out)


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_table(df: pd.DataFrame) -> str:
    header = "| " + " | ".join(_md_cell(c) for c in df.columns) + " |"
    rule = "| " + " | ".join("---" for _ in df.columns) + " |"
    rows = ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in df.itertuples(False)]
    return "\n".join([header, rule, *rows])


class Document:
    """A report written twice at once: as markdown and as self-contained HTML."""

    def __init__(self) -> None:
        self.md: list[str] = []
        self.html: list[str] = []

    def heading(self, level: int, text: str) -> None:
        self.md.append(f"{'#' * level} {text}")
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def markdown(self, text: str) -> None:
        if str(text).strip():
            self.md.append(str(text).strip("\n"))
            self.html.append(_markdown_html(text))

    def code(self, text: str) -> None:
        fence = "````" if "```" in text else "```"
        self.md.append(f"{fence}\n{text}\n{fence}")
        self.html.append(f"<pre><code>{html.escape(text)}</code></pre>")

    def bullets(self, items: Iterable[str]) -> None:
        items = [str(i) for i in items]
        if items:
            self.md.append("\n".join(f"- {i}" for i in items))
            self.html.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")

    def table(self, df: pd.DataFrame) -> None:
        self.md.append(_md_table(df))
        self.html.append(df.to_html(index=False, border=0, escape=True, na_rep=""))

    def image(self, name: str, caption: str, png: bytes) -> None:
        self.md.append(f"![{caption}]({name})")
        data = base64.b64encode(png).decode("ascii")
        self.html.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def markdown_text(self) -> str:
        return "\n\n".join(self.md) + "\n"

    def html_text(self, title: str) -> str:
        body = "\n".join(self.html)
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n"
        )
