"""The Reports area: the weekly report, agreement between reviewers, the adjudication queue and
the scorecard, four views of one screen (``tab`` / ``shift+tab`` go round them).

Everything is read from the local database (and the workspace's files), so the area works
offline from the last sync, and is read again each time the area is shown and after a sync.

**Adjudication** is where keys change data. The queue lists the overlap runs where reviewers
disagree; the open run shows each reviewer's grade side by side with their comments, and a
draft of the final grade (first the adjudication already set, else what the reviewers agree
on). The rubric's level keys set the draft's criteria (the chosen level again keeps it;
``backspace`` clears the criterion set last), ``[``
and ``]`` take one reviewer's whole grade as the draft, ``c`` opens the rationale box (typed
text is text, edited as in the desk's boxes; ``enter`` keeps it, ``escape`` puts back what was
there; required when the final value overrides
what every reviewer agreed on), ``o`` opens the run itself read-only (input, steps, output;
``escape`` comes back to the same run), ``enter`` saves the final grade (stored and pushed as
its own scores, the rationale as their comment; the reviewers' grades stay as they were),
``j``/``k`` move through the queue. Nobody settles a run they graded, and with ``[review]
adjudicators`` only those named settle: the view says why and its keys are refused with a word.
As at the desk, the screen's key handler takes every key in order, and a save is queued on the
one database thread, so keys typed after it apply to what is open when they are read.

Every view scrolls with the usual keys (``j``/``k``, arrows, space, page up/down, home/end;
in adjudication the arrows move through the queue and the rest scroll the run's pane) and the
wheel, and the view shown has the focus.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from rich.console import Group
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import ContentSwitcher, Static

from review.adjudication import OverlapRun, overridden, refusal
from review.progress import WorkflowProgress, progress_by_workflow
from review.rubric import Rubric
from review.scorecard import ScorecardRow
from review.textbox import edit_line
from review.weekly import WeeklyReport
from tui.keymap import SCROLL_KEYS, area_bindings, help_rows, scroll_by_key
from tui.reports import views
from tui.screens.area import BoardScreen
from tui.services import Services
from tui.text import one_line, safe_text
from tui.widgets.key_footer import KeyFooter
from tui.widgets.overlays import HelpText
from tui.widgets.run_view import RunView
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
#: Keys that scroll what is shown (in adjudication the arrows and j/k move the queue instead).


@dataclass
class Draft:
    """The final grade being set on the open disputed run (only saved by ``enter``)."""

    run: int
    values: dict[str, Any] = field(default_factory=dict)
    #: Which reviewer's grade ``[``/``]`` took last (index into the run's grades).
    source: int | None = None
    #: The rationale, saved as the final grade's comment.
    comment: str = ""
    #: Where the rationale box's cursor is (an index into ``comment``).
    cursor: int = 0
    #: The criterion a level key set last (what ``backspace`` clears).
    last: str | None = None


def adjudication_text(
    run: OverlapRun,
    rubric: Rubric,
    draft: Draft,
    position: tuple[int, int],
    *,
    refused: str | None = None,
    writing: bool = False,
    said: str | None = None,
) -> Text:
    """The open disputed run: each criterion with every reviewer's value, the draft's value,
    the reviewers' comments, the rationale, and why this person may not settle it (if so)."""
    t = Text()
    t.append(f"{position[0]} of {position[1]} · ", "dim")
    t.append(one_line(run.workflow, 30), "bold")
    t.append(f" · {one_line(run.run_id, 40)} · {run.started_at[:16].replace('T', ' ')}", "dim")
    if run.adjudication is not None:
        a = run.adjudication
        t.append(f"\nadjudicated by {one_line(a.adjudicator, 20)}", "green")
        t.append(f" at {a.updated_at[:16].replace('T', ' ')}", "dim")
        if a.adjudicator in run.reviewers:
            t.append("  (who graded it too: made before the rule)", "yellow")
    else:
        t.append("\nnot adjudicated yet", "yellow")
    if refused:
        t.append(f"\n{refused}", "bold yellow")
    if said:
        t.append(f"\n{said}", "bold red")
    overrides = overridden(run, draft.values)
    width = max([len(one_line(g.reviewer, 14)) for g in run.grades] + [5])
    for criterion in rubric.criteria:
        t.append("\n\n")
        differs = criterion.id in run.differing
        t.append(criterion.id, "bold yellow" if differs else "bold")
        if criterion.required:
            t.append(" *", "dim")
        if differs:
            t.append("  reviewers differ", "yellow")
        elif criterion.id in overrides:
            t.append("  the final value overrides what every reviewer chose", "bold red")
        for i, g in enumerate(run.grades):
            value = g.values.get(criterion.id)
            t.append(f"\n  {one_line(g.reviewer, 14):<{width}}  ", "dim")
            shown = "—" if value is None else one_line(str(value), 30)
            t.append(shown, "yellow" if differs else "")
            if draft.source == i:
                t.append("  ◀", "cyan")
        chosen = draft.values.get(criterion.id)
        if refused:
            # Not this person's to set: the final value, without the keys that would set it.
            t.append(f"\n  {'final':<{width}}  ", "dim")
            t.append("—" if chosen is None else one_line(str(chosen), 30), "dim")
            continue
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
    rationale = draft.comment.strip()
    needed = bool(overrides) and not rationale
    t.append("\n\nrationale", "bold")
    if needed:
        t.append("  required: the final grade overrides what every reviewer agreed on", "yellow")
    t.append("\n  ")
    if writing:
        # The person's own text, shown as data (never markup, controls made visible).
        at = min(max(draft.cursor, 0), len(draft.comment))
        t.append(safe_text(draft.comment[:at]))
        t.append("▏", "bold")
        t.append(safe_text(draft.comment[at:]))
        t.append(
            "\n  enter keeps · escape cancels · ←/→ home/end move · ctrl+w word · ctrl+u clear",
            "dim",
        )
    elif rationale:
        t.append(safe_text(rationale), "italic")
    else:
        t.append("— (c writes it)", "dim")
    missing = [c.id for c in rubric.required if draft.values.get(c.id) is None]
    t.append("\n\n")
    a = run.adjudication
    saved = a is not None and a.values == draft.values and (a.comment or "") == rationale
    if refused:
        t.append("settling is not yours here", "yellow")
        t.append("  ·  o open the run  ·  j k next / previous run", "dim")
        return t
    elif missing:
        t.append(f"to save, set: {', '.join(missing)}", "yellow")
    elif needed:
        t.append("to save, write the rationale (c)", "yellow")
    elif saved:
        t.append("this final grade is saved", "green")
    else:
        t.append("not saved yet: enter saves this final grade", "bold green")
    t.append("  ·  [ ] take a reviewer's grade  ·  c rationale  ·  o open the run", "dim")
    t.append("  ·  backspace clears the last set  ·  j k next / previous run", "dim")
    return t


def overlap_line(run: OverlapRun) -> str:
    """The run view's sample line for a disputed run: who graded it and where they differ."""
    who = ", ".join(one_line(r, 20) for r in run.reviewers)
    if run.differing:
        return f"overlap run: {who} differ on {', '.join(run.differing)}"
    return f"overlap run graded by {who}"


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
        # Before the view's own keys, so a narrow footer keeps it.
        Binding(
            "question_mark",
            "help",
            "Help",
            tooltip="Every key of the Reports area",
            id="reports.help",
        ),
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
        Binding(
            "enter",
            "shown('save')",
            "Save final",
            tooltip="Save the draft as the final grade, open the next run",
            id="reports.adjudication.save",
        ),
        Binding(
            "right_square_bracket",
            "shown('take')",
            "Take a grade",
            tooltip="Take the next reviewer's whole grade as the draft ([ the previous one's)",
            id="reports.adjudication.take",
        ),
        Binding(
            "j",
            "shown('next')",
            "Next run",
            show=False,
            tooltip="The next disputed run",
            id="reports.adjudication.next",
        ),
        Binding(
            "k",
            "shown('prev')",
            "Prev run",
            show=False,
            tooltip="The previous disputed run",
            id="reports.adjudication.prev",
        ),
        Binding(
            "backspace",
            "shown('clear')",
            "Clear",
            show=False,
            tooltip="Clear the criterion a level key set last",
            id="reports.adjudication.clear",
        ),
        Binding(
            "c",
            "shown('rationale')",
            "Rationale",
            tooltip="Write why this final grade (required when it overrides what all agreed)",
            id="reports.adjudication.rationale",
        ),
        Binding(
            "o",
            "shown('open_run')",
            "Open run",
            tooltip="The run itself, read-only: input, steps, output (escape comes back)",
            id="reports.adjudication.open_run",
        ),
    ]
    #: Keys of the adjudication view besides its bindings, for help: (keys, what, why).
    ADJUDICATION_KEYS = [
        ("the rubric's keys", "Set a level", "Set the draft's criterion (again: keeps it)"),
        ("[", "Take a grade", "Take the previous reviewer's whole grade as the draft"),
        ("↓ ↑", "Next, previous", "Move through the disputed runs (as j and k)"),
        ("space, pgdn, pgup", "Page", "Scroll the run's pane a page (the run too, when open)"),
        ("home, end", "Top, end", "Scroll the run's pane to its top or its end"),
    ]
    #: The scrolling keys of the other views, for help.
    SCROLL_HELP = [
        ("j, k, ↓ ↑", "Scroll", "Scroll the report a line down or up"),
        ("space, pgdn, pgup", "Page", "Scroll the report a page down or up"),
        ("home, end", "Top, end", "Scroll to the report's top or its end"),
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
        #: The disputed run (``runs.id``) shown read-only over the adjudication view, if any.
        self.run_open: int | None = None
        #: The rationale box of the open disputed run has the keys.
        self.writing = False
        #: The rationale as it was when the box opened (escape puts it back).
        self.rationale_before = ""
        #: The area's part of the status line (progress), before what a refused key said.
        self.progress_text = Text(" ")
        #: The last key refused on the adjudication view, and why (cleared by the next move).
        self.said: str | None = None

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
                with VerticalScroll(id="dispute-queue"):
                    yield Static(id="dispute-list")
                with VerticalScroll(id="dispute-pane"):
                    yield Static(id="dispute-detail")
            with Vertical(id="dispute-run"):
                yield Static(id="dispute-run-head")
                yield RunView(id="dispute-run-view")
            with VerticalScroll(id="scorecard"):
                yield Static(id="scorecard-body")
            with VerticalScroll(id="reports-help"):
                yield Static(id="reports-help-head")
                yield HelpText(id="reports-help-body")
        yield StatusLine(self.services, id="status")
        yield KeyFooter()

    def prepare(self) -> None:
        self._draw_tabs()
        self._focus_view()

    def _focus_view(self) -> None:
        """The view shown has the focus (its scrollbar lights up; the wheel and keys move it)."""
        shown = self.query_one(ContentSwitcher).current
        target = {"adjudication": "#dispute-pane", "dispute-run": None}.get(
            shown or "", f"#{shown}"
        )
        if target is None:
            self.set_focus(None)
        else:
            self.query_one(target).focus(scroll_visible=False)

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
        self.run_open = None
        self.writing = False
        self.said = None
        self.view = name
        self.query_one(ContentSwitcher).current = name
        self._draw_tabs()
        self._focus_view()
        if name == "adjudication":
            self._draw_adjudication()
        if self.stale and name != "adjudication":
            self.reload()
        self._draw_status()
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
        t.append("  escape or ? closes · j/k/space scroll\n", "dim")
        self.query_one("#reports-help-head", Static).update(t)
        every = [*self.BINDINGS, *self.app.BINDINGS]

        def adjudication(b: object) -> bool:
            return isinstance(b, Binding) and (b.id or "").startswith("reports.adjudication")

        # The view's own keys first (as remapped), then the area's and the app's.
        if self.view == "adjudication":
            rows = [
                *help_rows(self.app, [b for b in every if adjudication(b)]),
                *self.ADJUDICATION_KEYS,
            ]
        else:
            rows = list(self.SCROLL_HELP)
        rows += help_rows(self.app, [b for b in every if not adjudication(b)])
        self.query_one("#reports-help-body", HelpText).show(rows, None)
        self.helping = True
        self.query_one(ContentSwitcher).current = "reports-help"
        self.query_one("#reports-help", VerticalScroll).scroll_home(animate=False)
        self._focus_view()
        self.refresh_bindings()

    def close_help(self) -> None:
        if self.helping:
            self.helping = False
            shown = "dispute-run" if self.run_open is not None else self.view
            self.query_one(ContentSwitcher).current = shown
            self._focus_view()
            self.refresh_bindings()

    def action_help(self) -> None:
        self.show_help()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.helping and action in ("check_switches", "shown", "help"):
            return False
        if action == "check_switches":
            return self.view == "scorecard"
        if action == "shown":
            if self.run_open is not None or self.writing:
                return False
            if self.view != "adjudication" or self.draft is None or self.index is None:
                return False
            # On a run this person may not settle, only opening it and moving are offered.
            return parameters in (("open_run",), ("next",), ("prev",)) or (
                self._refusal(self.disputes[self.index]) is None
            )
        return True

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
        self.progress_text = Text(f" {graded:,}/{assigned:,} graded", "bold")
        self._draw_status()

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

    def _refusal(self, run: OverlapRun) -> str | None:
        """Why the person at this laptop may not settle ``run``, or None."""
        review = self.services.workspace.config.review
        return refusal(run, self.services.reviewer, review.adjudicators)

    def _open_dispute(self, *, keep_draft: bool = False) -> None:
        run = self.disputes[self.index] if self.index is not None else None
        if run is None:
            self.draft = None
        elif not (keep_draft and self.draft is not None and self.draft.run == run.run):
            a = run.adjudication
            values = dict(a.values) if a else dict(run.agreed)
            self.draft = Draft(run.run, values, comment=(a.comment or "") if a else "")
            self.said = None
            self.writing = False
            # Each run is read from its top, not where the last one was left.
            self.query_one("#dispute-pane", VerticalScroll).scroll_home(animate=False)
        self._draw_adjudication()

    def _draw_adjudication(self) -> None:
        self.query_one("#dispute-list", Static).update(
            Text.assemble(
                (f"Disputed overlap runs ({len(self.disputes)})\n", "bold"),
                queue_text(self.disputes, self.index, self.settled),
            )
        )
        self.call_after_refresh(self._follow_selection)
        detail = self.query_one("#dispute-detail", Static)
        if self.index is None or self.draft is None or self.rubric is None:
            detail.update(Text("Nothing to adjudicate.", "dim"))
            self._draw_status()
            self.refresh_bindings()
            return
        run = self.disputes[self.index]
        detail.update(
            adjudication_text(
                run,
                self.rubric,
                self.draft,
                (self.index + 1, len(self.disputes)),
                refused=self._refusal(run),
                writing=self.writing,
                said=self.said,
            )
        )
        self._draw_status()
        self.refresh_bindings()

    def _follow_selection(self) -> None:
        """Keep the selected run's line of the queue on screen (line 0 is the title)."""
        if self.index is None:
            return
        queue = self.query_one("#dispute-queue", VerticalScroll)
        line, top = self.index + 1, round(queue.scroll_offset.y)
        height = queue.scrollable_content_region.height
        if height <= 0:
            return
        if line < top + 1:
            queue.scroll_to(y=max(line - 1, 0), animate=False, immediate=True)
        elif line >= top + height:
            queue.scroll_to(y=line - height + 1, animate=False, immediate=True)

    def _draw_status(self) -> None:
        """The progress, and on the adjudication view what the last refused key said."""
        t = self.progress_text.copy()
        if self.said and self.view == "adjudication":
            t.append(" · ")
            t.append(one_line(self.said, 200), "bold yellow")
        self.query_one(StatusLine).set_area(t)

    def _refuse(self, why: str) -> None:
        """A key that cannot act here: say so on the pane (a toast would cover it in a burst)."""
        self.said = why
        self._draw_adjudication()

    def _adjudication_key(self, key: str, character: str | None) -> bool:
        """A key on the adjudication view; False when it is not one of its keys."""
        if self.index is None or self.draft is None or self.rubric is None:
            return False
        if key in ("pagedown", "space", "pageup", "home", "end"):
            scroll_by_key(self.query_one("#dispute-pane", VerticalScroll), key)
            return True
        levels = self.rubric.key_map()
        if key in ("j", "down") or self._is(key, "reports.adjudication.next"):
            what = "next"
        elif key in ("k", "up") or self._is(key, "reports.adjudication.prev"):
            what = "prev"
        elif self._is(key, "reports.adjudication.open_run"):
            what = "open_run"
        elif key == "left_square_bracket":
            what = "take_prev"
        elif key == "enter" or self._is(key, "reports.adjudication.save"):
            what = "save"
        elif key == "right_square_bracket" or self._is(key, "reports.adjudication.take"):
            what = "take"
        elif self._is(key, "reports.adjudication.rationale"):
            what = "rationale"
        elif self._is(key, "reports.adjudication.clear"):
            what = "clear"
        elif character and character in levels:
            what = "level"
        else:
            return False
        self._adjudicate(what, character)
        return True

    def action_shown(self, what: str) -> None:
        """The adjudication keys chosen in the command palette (typed, they are read in
        on_key, in order)."""
        if self.view == "adjudication" and self.run_open is None and not self.writing:
            self._adjudicate(what, None)

    def _adjudicate(self, what: str, character: str | None) -> None:
        """Do ``what`` (next, prev, open_run, take, take_prev, save, rationale, clear, level)
        on the open disputed run; a change this person may not make is refused with a word."""
        if self.index is None or self.draft is None or self.rubric is None:
            return
        run = self.disputes[self.index]
        if what in ("next", "prev"):
            step = 1 if what == "next" else -1
            self.index = max(0, min(len(self.disputes) - 1, self.index + step))
            self._open_dispute()
            return
        if what == "open_run":
            self._open_run(run)
            return
        refused = self._refusal(run)
        if refused:
            self._refuse(f"not taken: {refused}")
            return
        self.said = None
        levels = self.rubric.key_map()
        if what in ("take", "take_prev") and run.grades:
            step = 1 if what == "take" else -1
            now = self.draft.source
            i = (0 if step > 0 else len(run.grades) - 1) if now is None else now + step
            i %= len(run.grades)
            self.draft = replace(self.draft, values=dict(run.grades[i].values), source=i)
            self._draw_adjudication()
        elif what == "rationale":
            self.writing = True
            self.rationale_before = self.draft.comment
            self.draft = replace(self.draft, cursor=len(self.draft.comment))
            self._draw_adjudication()
            self.call_after_refresh(self._show_rationale)
        elif what == "save":
            self._save(run, self.draft)
        elif what == "clear":
            last = self.draft.last
            if last is None or last not in self.draft.values:
                self._refuse("nothing to clear: backspace clears the criterion set last")
                return
            values = {c: v for c, v in self.draft.values.items() if c != last}
            self.draft = replace(self.draft, values=values, last=None)
            self._draw_adjudication()
        elif what == "level" and character and character in levels:
            # The level already chosen, pressed again, keeps it (a double tap never undoes).
            criterion, level = levels[character]
            values = {**self.draft.values, criterion.id: level.value}
            self.draft = replace(self.draft, values=values, last=criterion.id)
            self._draw_adjudication()

    def _show_rationale(self) -> None:
        self.query_one("#dispute-pane", VerticalScroll).scroll_end(animate=False)

    def _rationale_key(self, key: str, character: str | None, paste: str | None = None) -> None:
        """A key while the rationale box is open: text, never a command. It edits as the
        desk's boxes do (review/textbox.py); enter keeps the text, escape puts back what was
        there before ``c``."""
        assert self.draft is not None
        if key == "enter":
            self.writing = False
        elif key == "escape":
            self.writing = False
            self.draft = replace(self.draft, comment=self.rationale_before)
        else:
            edited = edit_line(
                self.draft.comment,
                self.draft.cursor,
                "backspace" if key == "ctrl+h" else key,
                char=character,
                paste=paste,
            )
            if edited is None:
                return  # tab, function keys: nothing, and nothing else either
            self.draft = replace(self.draft, comment=edited[0], cursor=edited[1])
        self._draw_adjudication()

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        if self.writing and self.draft is not None:
            # At the cursor, on one line: line breaks become spaces, other controls are dropped.
            self._rationale_key("paste", None, event.text)

    def _is(self, key: str, binding_id: str) -> bool:
        """Whether ``key`` is one of the keys of the binding ``binding_id`` (as remapped in
        agentdeck.toml)."""
        default = next(
            b.key for b in self.BINDINGS if isinstance(b, Binding) and b.id == binding_id
        )
        keys = self.app._keymap.get(binding_id, default)
        return key in [k.strip() for k in keys.split(",")]

    # -- the disputed run, read-only ---------------------------------------------------------------

    def _open_run(self, run: OverlapRun) -> None:
        """Show the run itself over the adjudication view; escape comes back to this run."""
        self.run_open = run.run
        self.said = None
        self._draw_status()
        head = Text(" Run under dispute · read-only ", "bold reverse")
        head.append("  escape: back · j k, space: scroll", "dim")
        self.query_one("#dispute-run-head", Static).update(head)
        view = self.query_one("#dispute-run-view", RunView)
        view.show_message("Reading the run…")
        self.query_one(ContentSwitcher).current = "dispute-run"
        self._focus_view()
        self.refresh_bindings()
        self._work(self._load_run(run), "reports-run", exclusive=True)

    async def _load_run(self, dispute: OverlapRun) -> None:
        from review.queue import run_detail

        run = dispute.run
        detail = await asyncio.wrap_future(
            self.services.reader.submit(lambda conn: run_detail(conn, run))
        )
        if self.run_open != run:
            return  # closed (or another opened) while it was read
        view = self.query_one("#dispute-run-view", RunView)
        if detail is None:
            view.show_message("This run is not in the local copy any more.")
        else:
            # The header's sample line: why this run is here (an overlap run the reviewers
            # differ on), not a sampling reason of this person's.
            view.show(detail, overlap_line(dispute), mark="read-only")

    def _close_run(self) -> None:
        self.run_open = None
        self.query_one(ContentSwitcher).current = "adjudication"
        self._focus_view()
        self._draw_adjudication()

    def _run_key(self, key: str) -> None:
        if key in ("escape", "q") or self._is(key, "reports.adjudication.open_run"):
            self._close_run()
        elif key in SCROLL_KEYS:
            scroll_by_key(self.query_one("#dispute-run-view", RunView), key)

    def _save(self, run: OverlapRun, draft: Draft) -> None:
        """Queue the final grade on the database thread and open the next run not settled yet
        at once, so the keys typed after ``enter`` apply to it, however slow the disk."""
        from review.adjudication import adjudicate

        rubric = self.rubric
        assert rubric is not None and self.index is not None
        missing = [c.id for c in rubric.required if draft.values.get(c.id) is None]
        if missing:
            self._refuse(f"not saved: set {', '.join(missing)} first")
            return
        comment = draft.comment.strip()
        overrides = overridden(run, draft.values)
        if overrides and not comment:
            self._refuse(
                f"not saved: the final grade overrides what every reviewer agreed on "
                f"({', '.join(overrides)}); c writes the rationale"
            )
            return
        who = self.services.reviewer
        adjudicators = self.services.workspace.config.review.adjudicators
        values = dict(draft.values)
        future = self.services.writer.submit(
            lambda conn: adjudicate(
                conn, run.run, rubric, who, values, comment or None, adjudicators=adjudicators
            )
        )
        self.saving += 1
        self.settled.add(run.run)
        self._work(self._saved(future, run), "reports-adjudicate")
        later = [
            i
            for i, d in enumerate(self.disputes)
            if i > self.index
            and d.adjudication is None
            and d.run not in self.settled
            and self._refusal(d) is None
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
        key = event.key
        if self.writing and not self.helping:
            # The rationale box: every other key is text (or nothing), never a command.
            event.stop()
            event.prevent_default()
            self._rationale_key(key, event.character)
            return
        if self.helping:
            if key in ("tab", "shift+tab"):
                return  # the next view, which closes help
            event.stop()
            event.prevent_default()
            if key in ("escape", "question_mark", "q"):
                self.close_help()
            else:
                scroll_by_key(self.query_one("#reports-help", VerticalScroll), key)
            return
        if key == "question_mark":
            event.stop()
            event.prevent_default()
            self.show_help()
            return
        if key in ("tab", "shift+tab"):
            return
        if self.view == "adjudication" and self.run_open is not None:
            event.stop()
            event.prevent_default()
            self._run_key(key)
            return
        if self.view == "adjudication":
            if self._adjudication_key(key, event.character):
                event.stop()
                event.prevent_default()
            return
        if key in SCROLL_KEYS:
            event.stop()
            event.prevent_default()
            scroll_by_key(self.query_one(f"#{self.view}", VerticalScroll), key)
