"""What an export says about each tag besides its name (multi-row headers: description, units ...)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TagInfo:
    """Tag metadata from a historian export's extra header rows; `attributes` keeps any other rows by label."""

    name: str
    description: str | None = None
    units: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)

    def to_metadata(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "units": self.units,
            "attributes": dict(self.attributes),
        }
