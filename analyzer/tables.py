"""Table: the DataFrame type every comparison returns, printed in full."""

from __future__ import annotations

import pandas as pd

__all__ = ["Table"]


class Table(pd.DataFrame):
    """A DataFrame that prints every column in full (comparisons are read, not scrolled)."""

    @property
    def _constructor(self):
        return Table

    def __repr__(self) -> str:
        return self.to_string()
