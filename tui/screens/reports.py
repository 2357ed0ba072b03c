"""The Reports area: the weekly report, agreement between reviewers, the adjudication queue and
the scorecard, four views of one screen (``tab`` / ``shift+tab`` go round them).

Everything is read from the local database (and the workspace's files), so the area works
offline from the last sync, and is read again each time the area is shown and after a sync.

**Adjudication** is where keys change data. The queue lists the overlap runs where reviewers
disagree; the open run shows each reviewer's grade side by side with their comments, and a
draft of the final grade (first the adjudication already set, else what the reviewers agree
on). The rubric's level keys set the draft's criteria (the chosen level again clears it), ``[``
and ``]`` take one reviewer's whole grade as the draft, ``enter`` saves the final grade (stored
and pushed as its own scores; the reviewers' grades stay as they were), ``j``/``k`` move
through the queue. As at the desk, the screen's key handler takes every key in order, and a
save is queued on the one database thread, so keys typed after it apply to what is open when
they are read.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import ContentSwitcher, Footer, Static

from review.adjudication import OverlapRun
from review.progress import WorkflowProgress, progress_by_workflow
from review.rubric import Rubric
from review.scorecard import ScorecardRow
from review.weekly import WeeklyReport
from tui.keymap import area_bindings, help_rows
from tui.reports import views
from tui.screens.area import BoardScreen
from tui.services import Services
from tui.text import one_line
from tui.widgets.overlays import help_text
from tui.widgets.status_line import StatusLine

VIEWS = ("weekly", "agreement", "adjudication", "scorecard")
TITLES = {
    "weekly": "Weekly report",
    "agreement": "Agreement",
    "adjudication": "Adjudication",
    "scorecard": "Scorecard",
}
#: Bootstrap resamples for the agreement view's intervals (the CLI's default too).
RESAMPLES = 1000


@dataclass
class Draft:
    """The final grade being set on the open disputed run (only saved by ``enter``)."""

    run: int
    values: dict[str, Any] = field(default_factory=dict)
    #: Which reviewer's grade ``[``/``]`` took last (index into the run's grades).
    source: int | None = None


def adjudication_text(
    run: OverlapRun, rubric: Rubric, draft: Draft, position: tuple[int, int]
) -> Text:
    """The open disputed run: each criterion with every reviewer's value, the draft's value,
    and the reviewers' comments."""
    t = Text()
    t.append(f"{position[0]} of {position[1]} · ", "dim")
    t.append(one_line(run.workflow, 30), "bold")
    t.append(f" · {one_line(run.run_id, 40)} · {run.started_at[:16].replace('T', ' ')}", "dim")
    if run.adjudication is not None:
        a = run.adjudication
        t.append(f"\nadjudicated by {one_line(a.adjudicator, 20)}", "green")
        t.append(f" at {a.updated_at[:16].replace('T', ' ')}", "dim")
    else:
        t.append("\nnot adjudicated yet", "yellow")
    width = max([len(one_line(g.reviewer, 14)) for g in run.grades] + [5])
    for criterion in rubric.criteria:
        t.append("\n\n")
        differs = criterion.id in run.differing
        t.append(criterion.id, "bold yellow" if differs else "bold")
        if criterion.required:
            t.append(" *", "dim")
        if differs:
            t.append("  reviewers differ", "yellow")
        for i, g in enumerate(run.grades):
            value = g.values.get(criterion.id)
            t.append(f"\n  {one_line(g.reviewer, 14):<{width}}  ", "dim")
            shown = "—" if value is None else one_line(str(value), 30)
            t.append(shown, "yellow" if differs else "")
            if draft.source == i:
                t.append("  ◀", "cyan")
        chosen = draft.values.get(criterion.id)
        t.append(f"\n  {'final':<{width}}  ", "bold cyan")
        if chosen is None:
            t.append("— ", "dim")
        else:
            t.append(one_line(str(chosen), 30) + " ", "bold cyan")
        for level in criterion.scale.levels:
            picked = chosen is not None and str(chosen) == str(level.value)
            t.append(f" {level.key} ", "bold reverse" if picked else "bold cyan")
            t.append(f"{one_line(level.label, 12)} ", "bold" if picked else "dim")
    comments = [(g.reviewer, g.comment) for g in run.grades if g.comment]
    if comments:
        t.append("\n\ncomments", "bold")
        for who, comment in comments:
            t.append(f"\n  {one_line(who, 14)}: ", "dim")
            t.append(one_line(comment, 300), "italic")
    missing = [c.id for c in rubric.required if draft.values.get(c.id) is None]
    t.append("\n\n")
    saved = run.adjudication is not None and run.adjudication.values == draft.values
    if missing:
        t.append(f"to save, set: {', '.join(missing)}", "yellow")
    elif saved:
        t.append("this final grade is saved", "green")
    else:
        t.append("not saved yet: enter saves this final grade", "bold green")
    t.append("  ·  [ ] take a reviewer's grade  ·  j k next / previous run", "dim")
    return t


def queue_text(runs: list[OverlapRun], index: int | None, settled: set[int]) -> Text:
    t = Text()
    if not runs:
        t.append("No disputed runs: every overlap run's reviewers agree.", "dim")
        return t
    for i, run in enumerate(runs):
        mark = "✓" if run.adjudicated or run.run in settled else "·"
        style = "reverse" if i == index else ""
        line = Text(f"{mark} {run.started_at[5:16].replace('T', ' ')} ", style)
        line.append(f"{one_line(run.workflow, 16):<16}", style)
        line.append(f" {len(run.differing)}≠", style or "yellow")
        t.append_text(line)
        t.append("\n")
    return t


class ReportsScreen(BoardScreen):
    """The weekly report, agreement, adjudication and the scorecard."""

    CSS_PATH = "../reports.tcss"
    AREA = "reports"
    AUTO_FOCUS = None
    BINDINGS = [
        *area_bindings("reports"),
        Binding("tab", "next_view", "Next view", tooltip="The next report", id="reports.next"),
        Binding(
            "shift+tab",
            "prev_view",
            "Prev view",
            show=False,
            tooltip="The previous report",
            id="reports.prev",
        ),
        Binding(
            "r",
            "check_switches",
            "Check switches",
            tooltip="Read every kill switch now (the scorecard's SAFE)",
            id="reports.check_switches",
        ),
        # Shown on the adjudication view; the keys themselves go through on_key, in order.
        Binding("enter", "shown('save')", "Save final", id="reports.adjudication.save"),
        Binding(
            "right_square_bracket", "shown('take')", "Take a grade", id="reports.adjudication.take"
        ),
        Binding("j", "shown('next')", "Next run", id="reports.adjudication.next"),
        Binding(
            "question_mark",
            "help",
            "Help",
            tooltip="Every key of the Reports area",
            id="reports.help",
        ),
    ]
    #: Keys of the adjudication view besides its bindings, for help: (keys, what, why).
    ADJUDICATION_KEYS = [
        ("the rubric's keys", "Set a level", "Set the draft's criterion (again: clear it)"),
        ("[ ]", "Take a grade", "Take one reviewer's whole grade as the draft"),
        ("j, k", "Next, previous", "Move through the disputed runs"),
        ("enter", "Save final", "Save the draft as the final grade, open the next run"),
    ]

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.view = "weekly"
        self.rows: list[WorkflowProgress] = []
        self.weekly: WeeklyReport | None = None
        self.agreement: dict[str, Any] | None = None
        self.scorecard: list[ScorecardRow] = []
        self.disputes: list[OverlapRun] = []
        self.index: int | None = None
        self.draft: Draft | None = None
        self.rubric: Rubric | None = None
        self.saving = 0
        #: A final grade was saved since the last full read: the other views read again.
        self.stale = False
        #: Runs whose final grade was queued in this visit (the queue read may predate it).
        self.settled: set[int] = set()
        self.checking = False
        #: Help is shown over the current view (escape or ? goes back to it).
        self.helping = False

    def compose(self) -> ComposeResult:
        yield self.area_bar()
        yield Static(id="reports-tabs")
        with ContentSwitcher(initial="weekly", id="reports-views"):
            with VerticalScroll(id="weekly"):
                yield Static(id="weekly-head")
                yield Static(id="progress")
                yield Vertical(id="weekly-body")
            with VerticalScroll(id="agreement"):
                yield Static(id="agreement-body")
            with Horizontal(id="adjudication"):
                yield Static(id="dispute-queue")
                with VerticalScroll(id="dispute-pane"):
                    yield Static(id="dispute-detail")
            with VerticalScroll(id="scorecard"):
                yield Static(id="scorecard-body")
            with VerticalScroll(id="reports-help"):
                yield Static(id="reports-help-body")
        yield StatusLine(self.services, id="status")
        yield Footer()

    def prepare(self) -> None:
        self._draw_tabs()

    # -- views -------------------------------------------------------------------------------

    def _draw_tabs(self) -> None:
        t = Text(" ")
        for name in VIEWS:
            t.append(f" {TITLES[name]} ", "bold reverse" if name == self.view else "dim")
            t.append(" ")
        t.append("  tab next · shift+tab previous", "dim")
        self.query_one("#reports-tabs", Static).update(t)

    def show_view(self, name: str) -> None:
        self.helping = False
        self.view = name
        self.query_one(ContentSwitcher).current = name
        self._draw_tabs()
        if self.stale and name != "adjudication":
            self.reload()
        self.refresh_bindings()

    def action_next_view(self) -> None:
        self.show_view(VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)])

    def action_prev_view(self) -> None:
        self.show_view(VIEWS[(VIEWS.index(self.view) - 1) % len(VIEWS)])

    def show_help(self) -> None:
        """Every key of the area, over the view that is open; escape (or ?) goes back to it."""
        if self.helping:
            return
        t = Text()
        t.append(f" Help: Reports ({TITLES[self.view]}) ", "bold reverse")
        t.append("  escape or ? closes\n\n", "dim")
        rows = [("tab, shift+tab", "Views", "The next or previous report")]
        if self.view == "adjudication":
            rows += self.ADJUDICATION_KEYS
        shown = [
            b
            for b in [*self.BINDINGS, *self.app.BINDINGS]
            if not (isinstance(b, Binding) and (b.id or "").startswith("reports.adjudication"))
        ]
        t.append_text(help_text([*rows, *help_rows(self.app, shown)], None))
        self.query_one("#reports-help-body", Static).update(t)
        self.helping = True
        self.query_one(ContentSwitcher).current = "reports-help"
        self.query_one("#reports-help", VerticalScroll).scroll_home(animate=False)
        self.refresh_bindings()

    def close_help(self) -> None:
        if self.helping:
            self.helping = False
            self.query_one(ContentSwitcher).current = self.view
            self.refresh_bindings()

    def action_help(self) -> None:
        self.show_help()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.helping and action in ("check_switches", "shown", "help"):
            return False
        if action == "check_switches":
            return self.view == "scorecard"
        if action == "shown":
            return self.view == "adjudication" and self.draft is not None
        return True

    def action_shown(self, what: str) -> None:
        """The adjudication keys' footer entries (the keys themselves are handled in on_key)."""

    # -- loading -----------------------------------------------------------------------------

    async def load(self) -> None:
        from review.adjudication import disputed
        from review.agreement import agreement_report
        from review.ratings import workspace_ratings, workspace_reviewers
        from review.scorecard import scorecard
        from review.session import load_setup
        from review.weekly import BudgetLimit, default_week, weekly_report
        from tui.reports.facts import workflow_facts

        services = self.services
        reviewer, ws = services.reviewer, services.workspace
        now = datetime.now(UTC)

        def load(conn: sqlite3.Connection) -> tuple[Any, ...]:
            rubric = (services.setup or load_setup(ws)).rubric
            facts = workflow_facts(ws, conn)
            budgets: dict[str, BudgetLimit] = {
                w: f.budget for w, f in facts.items() if f.budget is not None
            }
            week, why = default_week(conn, now)
            weekly = weekly_report(conn, rubric, weeks=4, week=week, budgets=budgets, now=now)
            criteria = [
                cr
                for cr in workspace_ratings(conn)
                if (cr.rubric_id, cr.rubric_version) == (rubric.id, rubric.version)
            ]
            agreement = agreement_report(criteria, resamples=RESAMPLES, seed=0)
            agreement["reviewers"] = [
                r
                for r in workspace_reviewers(conn)
                if (r.get("rubric_id"), r.get("rubric_version")) == (rubric.id, rubric.version)
            ]
            return (
                rubric,
                progress_by_workflow(conn, reviewer, rubric),
                (weekly, why),
                agreement,
                scorecard(conn, rubric, facts, week=week, now=now),
                disputed(conn, rubric),
            )

        self.stale = False
        rubric, rows, (weekly, why), agreement, card, disputes = await asyncio.wrap_future(
            services.reader.submit(load)
        )
        self.rubric, self.rows, self.weekly = rubric, rows, weekly
        self.agreement, self.scorecard = agreement, card
        self._draw_weekly(weekly, why)
        self.query_one("#agreement-body", Static).update(views.agreement_group(agreement))
        self.query_one("#scorecard-body", Static).update(self._scorecard_renderable())
        self._set_disputes(disputes)
        graded = sum(r.graded for r in rows)
        assigned = sum(r.assigned for r in rows)
        self.query_one(StatusLine).set_area(Text(f" {graded:,}/{assigned:,} graded", "bold"))

    def _draw_weekly(self, report: WeeklyReport, why: str) -> None:
        self.query_one("#weekly-head", Static).update(views.weekly_header(report, reference=why))
        self.query_one("#progress", Static).update(views.progress_table(self.rows))
        body = self.query_one("#weekly-body", Vertical)
        body.remove_children()
        blocks = []
        for wf in report.workflows:
            block = Vertical(classes="workflow")
            blocks.append((block, wf))
        body.mount_all([b for b, _ in blocks])
        for block, wf in blocks:
            block.mount_all(
                [
                    Static(views.workflow_title(wf), classes="wf-title"),
                    Static(views.trend_text(wf), classes="trend"),
                    Static(views.budget_text(wf), classes="budget"),
                    Static(
                        views.Fitted(lambda width, wf=wf: views.weeks_table(wf, width)),
                        classes="weeks",
                    ),
                ]
            )

    def _scorecard_renderable(self) -> Group:
        head = Text("Scorecard: the operating model of each agent", "bold")
        head.append(
            "\n✓ fine  ! needs a look  ✗ failing  ∅ missing · r checks every kill switch now",
            "dim",
        )
        if self.checking:
            head.append("\nchecking the kill switches…", "yellow")
        return Group(head, Text(""), views.scorecard_table(self.scorecard))

    # -- the scorecard's live check --------------------------------------------------------------

    def action_check_switches(self) -> None:
        if self.checking:
            return
        self.checking = True
        self.query_one("#scorecard-body", Static).update(self._scorecard_renderable())
        self._work(self._check_switches, "reports-switch-check", exclusive=True)

    async def _check_switches(self) -> None:
        from runbooks.cards import check_cards
        from runbooks.killswitch import read_status, record_checks
        from store.credentials import get_secret
        from store.timestamps import now_iso

        ws = self.services.workspace

        def read() -> list[Any]:
            cards, _ = check_cards(ws.cards_dir)
            found = []
            for w in sorted(cards):
                found += read_status(cards[w], ws.root, secret=get_secret)
            return found

        try:
            found = await asyncio.to_thread(read)
            at = now_iso()
            await asyncio.wrap_future(
                self.services.writer.submit(lambda conn: record_checks(conn, found, at))
            )
        finally:
            self.checking = False
        self.reload()

    # -- adjudication ------------------------------------------------------------------------

    def _set_disputes(self, disputes: list[OverlapRun]) -> None:
        keep = self.disputes[self.index].run if self.index is not None and self.disputes else None
        self.disputes = disputes
        if not disputes:
            self.index = None
        else:
            runs = [d.run for d in disputes]
            self.index = runs.index(keep) if keep in runs else 0
        self._open_dispute(keep_draft=True)

    def _open_dispute(self, *, keep_draft: bool = False) -> None:
        run = self.disputes[self.index] if self.index is not None else None
        if run is None:
            self.draft = None
        elif not (keep_draft and self.draft is not None and self.draft.run == run.run):
            values = dict(run.adjudication.values) if run.adjudication else dict(run.agreed)
            self.draft = Draft(run.run, values)
        self._draw_adjudication()

    def _draw_adjudication(self) -> None:
        self.query_one("#dispute-queue", Static).update(
            Text.assemble(
                (f"Disputed overlap runs ({len(self.disputes)})\n", "bold"),
                queue_text(self.disputes, self.index, self.settled),
            )
        )
        detail = self.query_one("#dispute-detail", Static)
        if self.index is None or self.draft is None or self.rubric is None:
            detail.update(Text("Nothing to adjudicate.", "dim"))
            self.refresh_bindings()
            return
        run = self.disputes[self.index]
        detail.update(
            adjudication_text(run, self.rubric, self.draft, (self.index + 1, len(self.disputes)))
        )
        self.refresh_bindings()

    def _adjudication_key(self, key: str, character: str | None) -> bool:
        """A key on the adjudication view; False when it is not one of its keys."""
        if self.index is None or self.draft is None or self.rubric is None:
            return False
        run = self.disputes[self.index]
        if key in ("j", "down", "k", "up"):
            step = 1 if key in ("j", "down") else -1
            self.index = max(0, min(len(self.disputes) - 1, self.index + step))
            self._open_dispute()
            return True
        if key in ("left_square_bracket", "right_square_bracket") and run.grades:
            step = 1 if key == "right_square_bracket" else -1
            now = self.draft.source
            i = (0 if step > 0 else len(run.grades) - 1) if now is None else now + step
            i %= len(run.grades)
            self.draft = Draft(run.run, dict(run.grades[i].values), i)
            self._draw_adjudication()
            return True
        if key == "enter":
            self._save(run, self.draft)
            return True
        levels = self.rubric.key_map()
        if character and character in levels:
            criterion, level = levels[character]
            values = dict(self.draft.values)
            if str(values.get(criterion.id)) == str(level.value):
                values.pop(criterion.id)
            else:
                values[criterion.id] = level.value
            self.draft = Draft(run.run, values, self.draft.source)
            self._draw_adjudication()
            return True
        return False

    def _save(self, run: OverlapRun, draft: Draft) -> None:
        """Queue the final grade on the database thread and open the next run not settled yet
        at once, so the keys typed after ``enter`` apply to it, however slow the disk."""
        from review.adjudication import adjudicate

        rubric = self.rubric
        assert rubric is not None and self.index is not None
        missing = [c.id for c in rubric.required if draft.values.get(c.id) is None]
        if missing:
            self.notify(f"Set {', '.join(missing)} first.", severity="warning", markup=False)
            return
        who = self.services.reviewer
        values = dict(draft.values)
        future = self.services.writer.submit(
            lambda conn: adjudicate(conn, run.run, rubric, who, values)
        )
        self.saving += 1
        self.settled.add(run.run)
        self._work(self._saved(future, run), "reports-adjudicate")
        later = [
            i
            for i, d in enumerate(self.disputes)
            if i > self.index and d.adjudication is None and d.run not in self.settled
        ]
        if later:
            self.index = later[0]
            self._open_dispute()
        else:
            self._draw_adjudication()

    async def _saved(self, future: Any, run: OverlapRun) -> None:
        try:
            await asyncio.wrap_future(future)
        except ValueError as exc:
            self.settled.discard(run.run)
            self.notify(str(exc), title="Not saved", severity="error", markup=False)
            return
        finally:
            self.saving -= 1
        # Said by the queue's ✓ (a toast per enter would cover the pane in a burst).
        self.services.schedule_push()
        # Only the queue is read again now (one query, not every report per enter); the other
        # views use adjudications too and are read again when next shown.
        self.stale = True
        self._work(self._reload_disputes, "reports-disputes", exclusive=True)

    async def _reload_disputes(self) -> None:
        from review.adjudication import disputed

        rubric = self.rubric
        if rubric is None:
            return
        found = await asyncio.wrap_future(
            self.services.reader.submit(lambda conn: disputed(conn, rubric))
        )
        self._set_disputes(found)

    # -- keys --------------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        if event.key in ("ctrl+q", "ctrl+p", "f1", "f2", "f3"):
            return  # quit, the palette and the areas are the app's
        if self.helping:
            if event.key in ("tab", "shift+tab"):
                return  # the next view, which closes help
            event.stop()
            event.prevent_default()
            scroll = self.query_one("#reports-help", VerticalScroll)
            if event.key in ("escape", "question_mark", "q"):
                self.close_help()
            elif event.key in ("down", "j"):
                scroll.scroll_down(animate=False)
            elif event.key in ("up", "k"):
                scroll.scroll_up(animate=False)
            elif event.key in ("pagedown", "space"):
                scroll.scroll_page_down(animate=False)
            elif event.key == "pageup":
                scroll.scroll_page_up(animate=False)
            return
        if event.key == "question_mark":
            event.stop()
            event.prevent_default()
            self.show_help()
            return
        if self.view != "adjudication" or event.key in ("tab", "shift+tab"):
            return
        if self._adjudication_key(event.key, event.character):
            event.stop()
            event.prevent_default()
