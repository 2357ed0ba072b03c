"""The rubric pane: each criterion with its question, its levels and keys, the chosen value.

Rubrics come from the team's workspace, not from a run, but they are still rendered as plain
``Text`` (a question may well contain square brackets).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from review.blind import OthersView
from review.grading import Grade
from review.rubric import Rubric
from tui.text import guidance_text, one_line, safe_text


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
) -> Text:
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
    t.append(one_line(comment, 200) if comment else "— (c)", "" if comment else "dim")
    t.append("\nescalate ", "bold")
    if grade and grade.escalate:
        t.append(" FLAGGED ", "bold white on red")
    else:
        t.append("no (e)", "dim")
    _others_header(t, others)
    t.append("\n")
    # Optional criteria first, then the required block: grading top to bottom ends on the
    # answer that completes the grade, and that answer is marked.
    missing = [c.id for c in required if values.get(c.id) is None]
    completes = missing[0] if len(missing) == 1 and not (grade and grade.skipped) else None
    then = "saves and opens the next" if advance == "auto" else "completes the grade"
    for criterion in rubric.display_order:
        head = criterion is required[0]
        if head:
            t.append("\n" if compact else "\n\n")
            t.append("required", "bold underline")
        t.append("\n" if compact or head else "\n\n")
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
            if compact:
                t.append(guidance_text(criterion.guidance, limit=24))
            else:
                t.append(guidance_text(criterion.guidance, indent="  "))
            t.stylize("dim", start, len(t))
        if compact:
            t.append("\n ")
        for level in criterion.scale.levels:
            picked = done and str(chosen) == str(level.value)
            key_style = "bold reverse" if picked else "bold cyan"
            label = one_line(level.label, 9 if compact else 30)
            if compact:
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


class RubricPanel(Static):
    """Shows the rubric and the open run's grade; the desk calls :meth:`show`."""

    def __init__(self, rubric: Rubric | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rubric = rubric
        self.grade: Grade | None = None
        self.others: OthersView | None = None
        self.compact = False
        #: ``[review] advance``: what the answer completing the grade does, said in the pane.
        self.advance = "auto"
        self._shown: Text | None = None

    def show(self, rubric: Rubric, grade: Grade | None, others: OthersView | None = None) -> None:
        self.rubric = rubric
        self.grade = grade
        self.others = others
        text = rubric_text(rubric, grade, compact=self.compact, others=others, advance=self.advance)
        # The desk calls this after every key; moving between ungraded runs draws the same
        # text, and updating a Static lays it out and renders it again in the next frame.
        if text != self._shown:
            self._shown = text
            self.update(text)

    def set_compact(self, compact: bool) -> None:
        if compact != self.compact:
            self.compact = compact
            if self.rubric is not None:
                self.show(self.rubric, self.grade, self.others)
