"""The answer in two sentences, computed from the tables: predicted, measured, agreement."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .format import _TIME_Y, _finite, _orders, _stem, _uniques

__all__ = ["big_o", "headline", "lead_figure"]

_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
_FACTOR = re.compile(r"([A-Za-z_]\w*)(?:\*\*(\d+))?")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
# the verdicts that say "the measurement agrees with a prediction"
_AGREE = ("pass", "explained")


def big_o(term: Any) -> str | None:
    """``O(H³N)`` for a leading term's text ``"H**3*N"`` (read, never evaluated), else None.

    Examples
    --------
    >>> big_o("H**3*N"), big_o("2*H**2*N"), big_o("N"), big_o("log(H)")
    ('O(H³N)', 'O(H²N)', 'O(N)', None)
    """
    if not isinstance(term, str) or not term.strip():
        return None
    factors = []
    rest = term.replace(" ", "")
    number = _NUMBER.match(rest)
    if number:  # a coefficient: O() drops it
        rest = rest[number.end() :]
        if rest and not rest.startswith("*"):
            return None
        rest = rest[1:]
    while rest:
        m = _FACTOR.match(rest)
        if m is None:
            return None
        power = m.group(2)
        factors.append(m.group(1) + ("" if power in (None, "1") else power.translate(_SUPERSCRIPT)))
        rest = rest[m.end() :]
        if rest:
            if not rest.startswith("*") or rest.startswith("**"):
                return None
            rest = rest[1:]
    return f"O({''.join(factors)})" if factors else "O(1)"


def _time_fits(fits: pd.DataFrame | None) -> pd.DataFrame:
    if fits is None or fits.empty or not {"order", "x", "slope"} <= set(fits.columns):
        return pd.DataFrame()
    keep = pd.Series(True, index=fits.index)
    if "y" in fits.columns:
        keep &= fits["y"].astype(str).isin(_TIME_Y)
    return fits[keep]


def _primary(results: pd.DataFrame, timed: pd.DataFrame) -> tuple[Any, Any]:
    """The (model, cost) the answer speaks of: the first with fits of time, else the first."""
    models = (_uniques(results["model"]) if "model" in results.columns else []) or [None]
    costs = (_uniques(results["cost"]) if "cost" in results.columns else []) or [None]
    for model in models:
        for cost in costs:
            part = timed
            if not part.empty and model is not None and "model" in part.columns:
                part = part[part["model"].astype(str) == str(model)]
            if not part.empty and cost is not None and "cost" in part.columns:
                part = part[part["cost"].astype(str) == str(cost)]
            if not part.empty:
                return model, cost
    return models[0], costs[0]


def _rows(df: pd.DataFrame, model: Any, cost: Any) -> pd.DataFrame:
    if model is not None and "model" in df.columns:
        df = df[df["model"].astype(str) == str(model)]
    if cost is not None and "cost" in df.columns:
        df = df[df["cost"].astype(str) == str(cost)]
    return df


def _predicted(results: pd.DataFrame, model: Any, cost: Any) -> list[str]:
    """``input-first O(H³N)`` per order of one (model, cost), from ``leading_term``."""
    if "leading_term" not in results.columns:
        return []
    rows = _rows(results, model, cost)
    out = []
    for order in _orders(rows["order"]):
        terms = rows.loc[rows["order"].astype(str) == order, "leading_term"].dropna()
        shown = [big_o(t) for t in terms.astype(str)]
        shown = [s for s in shown if s]
        if shown:
            out.append(f"{order} {shown[-1]}")
    return out


def _list(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _num(value: float | None, digits: str = ".2f") -> str:
    return "?" if value is None else format(value, digits)


def _predicted_number(value: float | None) -> str:
    return "?" if value is None else f"{value:.3g}"


def headline(
    results: pd.DataFrame, fits: pd.DataFrame | None, sizes: Sequence[str]
) -> tuple[str, Any, Any, str | None]:
    """The answer as markdown, and the (model, cost, swept size) of the figure that shows it.

    Returns ``(text, model, cost, x)``: ``x`` is the swept size of the first fit of time of
    that model and cost (None when no time was fitted).

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"cost": "dense", "order": ["input-first", "output-first"],
    ...     "sweep": "H", "H": 8, "macs": [2048, 256], "leading_term": ["H**3*N", "H**2*N"]})
    >>> f = pd.DataFrame({"cost": "dense", "order": ["input-first", "output-first"],
    ...     "x": "H", "y": "seconds", "slope": [2.97, 2.2], "predicted": [3, 2],
    ...     "verdict": ["pass", "pass"]})
    >>> print(headline(r, f, ["H"])[0])  # doctest: +NORMALIZE_WHITESPACE
    **Predicted** (dense cost): input-first O(H³N) and output-first O(H²N) multiply-adds.
    <BLANKLINE>
    **Measured**: against H, the fitted slopes of time are 2.97 (input-first) and 2.20
    (output-first), where 3 and 2 are predicted.
    <BLANKLINE>
    **Agreement**: both fits of time pass.
    """
    timed = _time_fits(fits)
    model, cost = _primary(results, timed)
    where = ", ".join(
        p
        for p in ([str(model)] if model is not None and _several(results, "model") else [])
        + ([f"{cost} cost"] if cost is not None else [])
    )
    where = f" ({where})" if where else ""
    sentences = []
    predicted = _predicted(results, model, cost)
    if predicted:
        text = f"**Predicted**{where}: {_list(predicted)} multiply-adds"
        others = [
            c for c in (_uniques(results["cost"]) if "cost" in results.columns else []) if c != cost
        ]
        extra = [f"{c} cost: {_list(_predicted(results, model, c))}" for c in others]
        extra = [e for e in extra if not e.endswith(": ")]
        if extra:
            text += "; " + "; ".join(extra)
        sentences.append(text + ".")
    mine = _rows(timed, model, cost) if not timed.empty else timed
    x_first = None
    if not mine.empty:
        phrases = []
        for x in list(dict.fromkeys(mine["x"].astype(str))):
            x_first = x_first or x
            part = mine[mine["x"].astype(str) == x]
            slopes, preds = [], []
            for order in _orders(part["order"]):
                f = part[part["order"].astype(str) == order].iloc[0]
                slopes.append(f"{_num(_finite(f.get('slope')))} ({order})")
                preds.append(_predicted_number(_finite(f.get("predicted"))))
            noun = "slope of time is" if len(slopes) == 1 else "slopes of time are"
            phrase = f"against {x}, the fitted {noun} {_list(slopes)}"
            if any(p != "?" for p in preds):
                phrase += f", where {_list(preds)} {'is' if len(preds) == 1 else 'are'} predicted"
            phrases.append(phrase)
        if not predicted and where:
            phrases[0] = phrases[0] + where
        sentences.append("**Measured**: " + "; ".join(phrases) + ".")
        sentences.append(f"**Agreement**: {_agreement(timed)}.")
    elif fits is not None and not fits.empty:
        sentences.append(
            "**Measured**: no time was fitted (the fits are of counts only); "
            f"**agreement**: {_agreement(fits, 'fits')}."
        )
    else:
        sentences.append(
            "**Measured**: no exponent was fitted, so no prediction is checked here; "
            "the counts and times are in the tables below."
        )
    return "\n\n".join(sentences), model, cost, x_first


def _several(results: pd.DataFrame, column: str) -> bool:
    return column in results.columns and results[column].nunique() > 1


def _agreement(fits: pd.DataFrame, what: str = "fits of time") -> str:
    verdicts = fits["verdict"].fillna("n/a").astype(str) if "verdict" in fits.columns else None
    if verdicts is None or verdicts.empty:
        return f"the {len(fits)} {what} carry no verdict"
    counts = verdicts.value_counts()
    known = ["pass", "explained", "fail", "inconclusive", "n/a"]
    order = [v for v in known if v in counts] + sorted(v for v in counts.index if v not in known)
    n = len(verdicts)
    if len(order) == 1:
        verdict = order[0]
        if n == 1:
            verb = {"pass": "passes", "fail": "fails"}.get(verdict, f"is {verdict}")
            return f"the one {what.replace('fits', 'fit')} {verb}"
        verb = verdict if verdict in ("pass", "fail") else f"are {verdict}"
        return f"{'both' if n == 2 else f'all {n}'} {what} {verb}"
    agree = int(sum(counts.get(v, 0) for v in _AGREE))
    text = f"{agree} of {n} {what} agree with a prediction (" + ", ".join(
        f"{counts[v]} {v}" for v in order
    )
    text += ")"
    failed = fits[verdicts == "fail"]
    if len(failed):
        named = []
        for _, f in failed.head(3).iterrows():
            slope, pred = _finite(f.get("slope")), _finite(f.get("predicted"))
            named.append(
                " ".join(str(f[c]) for c in ("cost", "order") if c in f.index and pd.notna(f[c]))
                + f" against {f['x']}: slope {_num(slope)}, predicted {_predicted_number(pred)}"
            )
        text += "; failing: " + "; ".join(named) + ("; …" if len(failed) > 3 else "")
    return text


def lead_figure(model: Any, cost: Any, x: str | None, stems: Sequence[str]) -> str | None:
    """The stem of the figure beside the answer: the time plot of ``x``, else its macs plot."""
    tail = [] if model is None else [model]
    for kind in ("time_vs", "macs_vs"):
        for swept in [x] if x is not None else []:
            stem = _stem(kind, swept, cost, *tail)
            if stem in stems:
                return stem
    for stem in stems:  # no fit: the first time plot, else the first plot
        if stem.startswith("time_vs"):
            return stem
    return stems[0] if stems else None
