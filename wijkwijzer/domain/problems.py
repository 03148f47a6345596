"""Validation problems that name the file, the line and the field."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Problem:
    """One problem in one file. Errors keep the file out of the index; warnings do not."""

    path: str
    line: int
    field: str
    message: str
    severity: str = "error"  # "error" or "warning"

    def format(self) -> str:
        """`path:line: field: message` — the form editors and their editors' jump-to-line understand."""
        prefix = "" if self.severity == "error" else "waarschuwing: "
        return f"{self.path}:{self.line}: {self.field}: {prefix}{self.message}"

    def to_dict(self) -> dict:
        """Plain data for JSON answers."""
        return asdict(self)
