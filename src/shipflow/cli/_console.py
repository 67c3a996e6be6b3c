"""The rich console class behind :mod:`shipflow.cli.output` (imported only when something is
rendered through rich: a table, a progress bar, styled text on a terminal)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.segment import Segment
from rich.text import Text

from shipflow.cli.output import UNSAFE_CHARACTERS, safe_text

if TYPE_CHECKING:
    from rich.console import ConsoleOptions, RenderableType

__all__ = ["SafeConsole"]


class SafeConsole(Console):
    """A rich Console that renders markup only when asked to and escapes control characters
    in everything it prints (strings, table cells, Text built elsewhere)."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(safe_text(text), **kwargs)

    def render(self, renderable: RenderableType, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        for segment in super().render(renderable, options):
            # Text objects made by library code do not pass render_str: clean their segments.
            if segment.control is None and UNSAFE_CHARACTERS.search(segment.text):
                yield Segment(safe_text(segment.text), segment.style)
            else:
                yield segment
