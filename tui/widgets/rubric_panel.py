"""The rubric pane: each criterion with its question, its levels and keys, the chosen value.

Rubrics come from the team's workspace, not from a run, but they are still rendered as plain
``Text`` (a question may well contain square brackets).
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.containers import ScrollableContainer
from textual.content import Content
from textual.geometry import Region
from textual.widgets import Static

from review.blind import OthersView
from review.grading import Grade
from review.rubric import Rubric
from tui.text import guidance_text, one_line, safe_text

#: The most of a comment the pane shows (about two rows); the whole comment is in its box (c).
COMMENT_CELLS = 56
#: How a criterion's first line starts: answered, still open.
ANSWERED, OPEN = "● ", "○ "


def _others_header(t: Text, others: OthersView) -> None:
    """One line on the other reviewers' grades: hidden (blind) until one's own is complete."""
    if others.count == 0:
        return
    t.append("\nothers ", "bold")
    if others.hidden:
        n = others.count
        t.append(
            f"{n} other grade{'s' if n > 1 else ''} hidden until yours is complete (blind review)",
            "dim",
        )
        return
    t.append(", ".join(one_line(o.reviewer, 20) for o in others.shown))
    if others.differ:
        t.append(" · differ on ", "")
        t.append(", ".join(sorted(others.differ)), "bold yellow")
    else:
        t.append(" · agree", "green")
    for o in others.shown:
        if o.comment:
            t.append(f"\n  {one_line(o.reviewer, 20)}: ", "dim")
            t.append(one_line(o.comment, 120), "italic")


def _others_values(t: Text, criterion: str, mine: object, others: OthersView) -> None:
    """Each other reviewer's value of ``criterion``, once they may be seen."""
    if not others.shown:
        return
    t.append("\n   ")
    for o in others.shown:
        theirs = o.values.get(criterion)
        same = str(theirs) == str(mine)
        t.append(f" {one_line(o.reviewer, 20)}: ", "dim")
        t.append(
            "—" if theirs is None else one_line(str(theirs), 30),
            "dim" if same else "bold yellow",
        )


def rubric_text(
    rubric: Rubric,
    grade: Grade | None,
    *,
    compact: bool = False,
    others: OthersView | None = None,
    advance: str = "auto",
    read_only: bool = False,
) -> Text:
    if read_only:
        return _read_only_text(rubric, compact=compact)
    values = grade.values if grade else {}
    others = others or OthersView(count=0)
    t = Text()
    # The grade's state first, so it stays in view however tall the rubric is.
    required = rubric.required
    done_required = sum(1 for c in required if values.get(c.id) is not None)
    if grade and grade.skipped is not None:
        t.append("» skipped: ", "bold magenta")
        t.append(one_line(grade.skipped, 200), "magenta")
        t.append(" (an answer or the clear key takes it back)", "dim")
    elif grade and grade.complete:
        t.append("✓ graded", "bold green")
        if advance == "enter":
            t.append(" · enter: next run", "bold cyan")
    else:
        t.append(f"{done_required} of {len(required)} required set", "bold yellow")
    t.append("\ncomment ", "bold")
    comment = grade.comment if grade else None
    # Cut to about two rows of the pane: a long comment never pushes the rubric down.
    t.append(one_line(comment, COMMENT_CELLS) if comment else "— (c)", "" if comment else "dim")
    t.append("\nescalate ", "bold")
    if grade and grade.escalate:
        t.append(" FLAGGED ", "bold white on red")
    else:
        t.append("no (e)", "dim")
    _others_header(t, others)
    # Optional criteria first, then the required block: grading top to bottom ends on the
    # answer that completes the grade, and that answer is marked.
    missing = [c.id for c in required if values.get(c.id) is None]
    completes = missing[0] if len(missing) == 1 and not (grade and grade.skipped) else None
    then = "saves and opens the next" if advance == "auto" else "completes the grade"
    for criterion in rubric.display_order:
        if required and criterion is required[0]:
            t.append("\n")
            t.append("required", "bold underline")
        t.append("\n")
        chosen = values.get(criterion.id)
        done = chosen is not None
        t.append("● " if done else "○ ", "green" if done else "dim")
        t.append(criterion.id, "bold")
        if criterion.required:
            t.append(" *", "bold red" if not done else "dim")
        else:
            t.append(" (optional)", "dim")
        if criterion.id == completes:
            t.append(f" ← {then}", "bold cyan")
        if not compact:
            t.append("\n  ")
            t.append(safe_text(criterion.question), "italic")
        if criterion.guidance:
            t.append("\n  ")
            start = len(t)
            # One row, cut (the whole guidance is in help, ?): five criteria must fit the pane.
            t.append(guidance_text(criterion.guidance, limit=24 if compact else 29))
            t.stylize("dim", start, len(t))
        # Levels without anchors share one row, as in the compact pane.
        inline = compact or not any(level.anchor for level in criterion.scale.levels)
        if inline:
            t.append("\n ")
        for level in criterion.scale.levels:
            picked = done and str(chosen) == str(level.value)
            key_style = "bold reverse" if picked else "bold cyan"
            label = one_line(level.label, 9 if compact else 30)
            if inline:
                t.append(" ")
                t.append(level.key, key_style)
                t.append(f" {label} ", "bold green" if picked else "")
            else:
                t.append("\n  ")
                t.append(f" {level.key} ", key_style)
                t.append(f" {label}", "bold green" if picked else "")
            if level.anchor and not compact:
                t.append(" — ", "dim")
                t.append(one_line(level.anchor, 60), "dim")
        _others_values(t, criterion.id, chosen, others)
    return t


def _read_only_text(rubric: Rubric, *, compact: bool) -> Text:
    """The rubric for a run outside the reviewer's queue: what it asks, with no keys to grade
    it and no count of answers (whose run it is, is in the run's header)."""
    t = Text()
    t.append("read-only", "bold magenta")
    t.append(": not in your queue, nothing to grade here (escape goes back)", "magenta")
    for criterion in rubric.display_order:
        t.append("\n")
        t.append("  ")
        t.append(criterion.id, "bold")
        t.append(" (required)" if criterion.required else " (optional)", "dim")
        if not compact:
            t.append("\n  ")
            t.append(safe_text(criterion.question), "italic")
        t.append("\n  ")
        start = len(t)
        t.append(
            " · ".join(
                one_line(level.label, 9 if compact else 30) for level in criterion.scale.levels
            )
        )
        t.stylize("dim", start, len(t))
    return t


def open_criterion_rows(plain: str, width: int) -> tuple[int, int] | None:
    """The rows (first, end) the first unanswered criterion takes in ``plain`` drawn
    ``width`` cells wide (wrapped as a Static wraps it), or None when every one is answered."""
    lines = plain.split("\n")
    first = next((i for i, line in enumerate(lines) if line.startswith(OPEN)), None)
    if first is None or width <= 0:
        return None
    end = next(
        (i for i in range(first + 1, len(lines)) if lines[i].startswith((OPEN, ANSWERED))),
        len(lines),
    )

    def rows(n: int) -> int:
        return len(Content("\n".join(lines[:n])).wrap(width)) if n else 0

    return rows(first), rows(end)


class RubricPanel(Static):
    """Shows the rubric and the open run's grade; the desk calls :meth:`show`.

    When the rubric is taller than the pane, the pane scrolls so the first criterion still to
    answer, all its keys, stays in view (the grade's state above it while there is room).
    """

    def __init__(self, rubric: Rubric | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rubric = rubric
        self.grade: Grade | None = None
        self.others: OthersView | None = None
        self.compact = False
        #: ``[review] advance``: what the answer completing the grade does, said in the pane.
        self.advance = "auto"
        #: A run outside the reviewer's queue: the rubric is shown without keys to grade it.
        self.read_only = False
        self._shown: Text | None = None

    def show(
        self,
        rubric: Rubric,
        grade: Grade | None,
        others: OthersView | None = None,
        *,
        read_only: bool | None = None,
    ) -> None:
        self.rubric = rubric
        self.grade = grade
        self.others = others
        if read_only is not None:
            self.read_only = read_only
        text = rubric_text(
            rubric,
            grade,
            compact=self.compact,
            others=others,
            advance=self.advance,
            read_only=self.read_only,
        )
        # The desk calls this after every key; moving between ungraded runs draws the same
        # text, and updating a Static lays it out and renders it again in the next frame.
        if text != self._shown:
            self._shown = text
            self.update(text)
            self.call_after_refresh(self.keep_open_in_view)

    def on_resize(self, event: events.Resize) -> None:
        # Its width changed (the pane's scrollbar came or went, the terminal was resized).
        self.call_after_refresh(self.keep_open_in_view)

    def keep_open_in_view(self) -> None:
        """Scroll (as little as can be) so the open criterion's rows are on screen."""
        if self._shown is None:
            return
        pane = self.parent
        if not isinstance(pane, ScrollableContainer):
            return
        rows = open_criterion_rows(self._shown.plain, self.content_region.width)
        if rows is None:
            return
        first, end = rows
        height = pane.scrollable_content_region.height
        # From the top (the grade's state) when that fits; else the criterion's first row.
        top = 0 if end <= height else first
        pane.scroll_to_region(
            Region(0, top, self.content_region.width, max(end - top, 1)),
            animate=False,
            immediate=True,
            top=end - first > height,
        )

    def set_compact(self, compact: bool) -> None:
        if compact != self.compact:
            self.compact = compact
            if self.rubric is not None:
                self.show(self.rubric, self.grade, self.others)
