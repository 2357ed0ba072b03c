"""How every report command writes what it reports: one set of output options (``--format``,
``--output``/``-o``), the one place that picks a report's renderer for a format, the terminal
tables, and one way to write the text (standard output, or the file replaced whole).

The figures' text (labels, rounding, order) comes from the report's module in ``review/``
(``weekly_export``, ``agreement_export``, ``disputes_export``), which the app's Reports area
uses too; the tables here only lay them out for a terminal. Nothing here imports Textual or an
HTTP client: ``agentdeck report`` must not pay for them.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

#: Every format a report command writes (``--format``); the first is the default.
FORMATS = ("table", "json", "markdown", "html", "csv")

Renderer = Callable[[Any], str]


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--format`` (as ``fmt``) and ``--output``/``-o`` (as ``output``): the options every
    report command takes, in this order."""
    fn = click.option(
        "--output",
        "-o",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Write to FILE instead of standard output.",
    )(fn)
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(FORMATS)),
        default=FORMATS[0],
        show_default=True,
    )(fn)


def renderers(report: str) -> Mapping[str, Renderer]:
    """The renderer of each format of ``report`` (weekly, agreement, disputes): the terminal
    table drawn here, the files from the report's module in ``review/``. Imported when asked
    for, so a command loads only its own report's code."""
    if report == "weekly":
        from review.weekly_export import EXPORTS as weekly

        return {"table": weekly_table, **weekly}
    if report == "agreement":
        from review.agreement_export import EXPORTS as agreement

        return {"table": agreement_table, **agreement}
    if report == "disputes":
        from review.disputes_export import EXPORTS as disputes

        return {"table": disputes_table, **disputes}
    raise KeyError(report)


def render(report: str, fmt: str, data: Any) -> str:
    """``data`` of ``report`` as text in ``fmt``."""
    return renderers(report)[fmt](data)


def write_text(text: str, output: Path | None) -> None:
    """``text`` to standard output, or to ``output`` whole (a temporary file beside it renamed
    over it, so a reader never sees half a file). A file that cannot be written is named as the
    person gave it, not as the temporary file."""
    if output is None:
        click.echo(text, nl=False)
        return
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", newline="\n")
        os.replace(tmp, output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(output)) from exc


def emit(text: str, output: Path | None, written: Callable[[], str] | None = None) -> None:
    """Write ``text`` (:func:`write_text`); when it went to a file, say on standard output what
    was written where (``written()``, e.g. ``FILE: agreement on 3 criteria``)."""
    write_text(text, output)
    if output is not None and written is not None:
        click.echo(written())


# --- the terminal tables ----------------------------------------------------------------------


def _console(width: int) -> Any:
    from rich.console import Console

    # Recorded, not printed: the text goes to stdout or the -o file like the other formats.
    return Console(file=io.StringIO(), width=width, force_terminal=False, color_system=None)


def agreement_table(data: dict[str, Any]) -> str:
    """The agreement report as terminal tables; every name from the data is plain text."""
    from rich.table import Table
    from rich.text import Text

    from review.agreement_export import (
        FIGURE_HEADERS,
        REVIEWER_HEADERS,
        criterion_head,
        criterion_title,
        figure_rows,
        reviewer_rows,
        window_text,
    )
    from tui.text import safe_text

    console = _console(120)
    criteria: list[dict[str, Any]] = data["criteria"]
    if not criteria:
        console.print(Text("no ratings to compare"))
    window = window_text(data)
    if window:
        console.print(Text(safe_text(window)))
    for c in criteria:
        head = f"{criterion_title(c)}: {criterion_head(c)}"
        table = Table(title=Text(safe_text(head)), title_justify="left")
        for i, h in enumerate(FIGURE_HEADERS):
            table.add_column(h, justify="right" if 2 <= i <= 4 else "left")
        for row in figure_rows(c):
            table.add_row(*(Text(safe_text(cell)) for cell in row))
        console.print(table)
        for note in c.get("notes") or []:
            console.print(Text(safe_text(f"note: {note}")))
    if data.get("reviewers"):
        table = Table(title="Reviewers", title_justify="left")
        for h in REVIEWER_HEADERS:
            table.add_column(h)
        for row in reviewer_rows(data):
            table.add_row(*(Text(safe_text(cell)) for cell in row))
        console.print(table)
    return console.file.getvalue()  # type: ignore[no-any-return]


def weekly_table(data: Any) -> str:
    """The weekly report as tables, one per workflow, in plain text. Workflow names are shown
    as text, never parsed as markup."""
    from rich.table import Table
    from rich.text import Text

    from review.weekly import WeeklyReport
    from review.weekly_export import WEEK_HEADERS, trend_line, week_cells

    assert isinstance(data, WeeklyReport)
    console = _console(160)
    console.print(Text(f"Weekly report {data.week} ({data.weeks[0]} to {data.weeks[-1]}, UTC)"))
    if not data.workflows:
        console.print(Text("No runs, grades or budgets in these weeks."))
    for wf in data.workflows:
        table = Table(title=Text(wf.workflow), title_justify="left", expand=False)
        for i, head in enumerate(WEEK_HEADERS):
            table.add_column(head, justify="left" if i == 0 else "right")
        for w in wf.weeks:
            table.add_row(*(Text(c) for c in week_cells(w)))
        console.print(table)
        console.print(Text(f"  {trend_line(wf)}"))
        for w in wf.weeks:
            if w.agreement is not None and w.agreement.note:
                console.print(Text(f"  {w.week} agreement: {w.agreement.note}"))
    return console.file.getvalue()  # type: ignore[no-any-return]


def disputes_table(data: dict[str, Any]) -> str:
    """The adjudication queue as one table; each cell on one line, cut at 60 characters."""
    from rich.table import Table
    from rich.text import Text

    from review.adjudication import queue_rows
    from review.disputes_export import headers, title
    from tui.text import one_line

    table = Table(title=title(data))
    for h in headers(data):
        table.add_column(h)
    for row in queue_rows(data):
        table.add_row(*(Text(one_line(c, 60)) for c in row))
    console = _console(160)
    console.print(table)
    return console.file.getvalue()  # type: ignore[no-any-return]
