"""The ``agentdeck`` command line.

Commands import only what they use: ``--help``, ``validate`` and ``schema`` never import Textual,
the database layer or an HTTP client (on these machines ``import textual.app`` alone costs ~0.9 s).
Exit codes: 0 ok, 1 the command ran and found problems, 2 bad usage or bad input.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from tui.report_output import output_options as report_output_options

if TYPE_CHECKING:
    from runbooks.killswitch import ChannelStatus
    from store.workspace import Workspace


def _fail(message: str) -> NoReturn:
    """One line on stderr, exit 2: how every bad input ends."""
    from tui.text import one_line

    # one_line: a message can quote a file or a server, so it is made safe and kept to one line.
    click.echo(f"agentdeck: {one_line(message, 2000)}", err=True)
    sys.exit(2)


def _guarded(fn):  # type: ignore[no-untyped-def]
    """Turn the domain's bad-input exceptions into one-line errors with exit code 2."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        from store.documents import DocumentError

        try:
            return fn(*args, **kwargs)
        except DocumentError as exc:
            _fail(str(exc))
        except Exception as exc:
            # Imported lazily: these modules pull in sqlite-utils.
            from store.connectors.base import ConnectorError
            from store.credentials import CredentialError
            from store.db import DatabaseUnavailable, NotADatabase, SchemaTooNew, explain

            if isinstance(
                exc,
                SchemaTooNew
                | NotADatabase
                | DatabaseUnavailable
                | ConnectorError
                | CredentialError,
            ):
                _fail(str(exc))
            if isinstance(exc, OSError):
                where = f"{exc.filename}: " if exc.filename else ""
                _fail(f"{where}{exc.strerror or exc}")
            if isinstance(exc, sqlite3.Error):
                _fail(f"the local database: {explain(exc)}")
            raise

    return wrapper


def _workspace_root(path: Path | None) -> Path:
    """The workspace folder: the command's --workspace, else the group's (``agentdeck -w DIR
    sync``), else the usual search."""
    from store.workspace import find_workspace

    if path is None:
        ctx = click.get_current_context(silent=True)
        if ctx is not None:
            path = ctx.find_root().params.get("workspace")
    root = find_workspace(path)
    if root is None:
        _fail(
            "no workspace found (no agentdeck.toml here or above, none in "
            "$AGENTDECK_WORKSPACE or the user config dir); try `agentdeck demo`"
        )
    return root


def _workspace(path: Path | None) -> Workspace:
    from store.workspace import load_workspace

    return load_workspace(_workspace_root(path))


_LOCK: object = None


def _hold_workspace(ws: Workspace) -> None:
    """One desk per workspace: a second one would show grades the first has since changed and
    overwrite them. The lock goes with the process, however it ends."""
    from store.files import LockHeld, hold

    global _LOCK
    path = ws.db_path.with_name("desk.lock")
    try:
        _LOCK = hold(path)
    except LockHeld as held:
        _fail(
            f"{ws.root}: the desk is already open on this workspace "
            f"(pid {held.holder or 'another process'}); use that window, or close it first"
        )
    except OSError as exc:
        _fail(f"{path}: cannot take the desk's lock ({exc.strerror or exc}); check the folder")


def _open_desk(ws: Workspace, area: str | None = None, *, drill: bool = False) -> None:
    """Open the app on ``area``; None: where the work is (On call while an incident fires and
    ``[oncall] open_on_firing`` is on, else Review)."""
    from review.session import load_setup
    from store.db import connect

    # Check everything that can be wrong with the input before the screen takes over the
    # terminal, so a bad rubric or a too-new database is a one-line error, not a broken UI.
    setup = load_setup(ws)
    conn = connect(ws.db_path)
    from tui.app import check_keymap, first_area, make_app

    try:
        # An explicit area wins; otherwise one count over the local incidents decides.
        area, firing = (area, 0) if area is not None else first_area(ws, conn)
    finally:
        conn.close()
    check_keymap(ws, setup.rubric)
    _hold_workspace(ws)

    app = make_app(ws, area=area, drill=drill, opened_on_firing=firing)
    app.run()
    if app.return_code:
        sys.exit(app.return_code)


workspace_option = click.option(
    "--workspace",
    "-w",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Workspace folder (default: $AGENTDECK_WORKSPACE, then the current folder upwards).",
)

output_option = click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write to FILE instead of standard output.",
)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@workspace_option
@click.version_option(package_name="agentdeck")
@click.pass_context
@_guarded
def cli(ctx: click.Context, workspace: Path | None) -> None:
    """agentdeck: the terminal desk for people who keep AI agents dependable.

    With no command, opens the app on the current workspace: on On call while an incident is
    not resolved in the local copy ([oncall] open_on_firing), else on the review desk.
    """
    if ctx.invoked_subcommand is None:
        _open_desk(_workspace(workspace))


@cli.command()
@click.option(
    "--path",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where to put the demo workspace (default: the user data directory).",
)
@click.option("--fresh", is_flag=True, help="Start over: discard the demo copy and its grades.")
@click.option("--no-open", is_flag=True, help="Only copy the workspace; print where it went.")
@_guarded
def demo(path: Path | None, fresh: bool, no_open: bool) -> None:
    """Copy the demo workspace and open the desk on it (no server needed)."""
    from store.workspace import copy_demo, load_workspace

    target = copy_demo(path, fresh=fresh)
    if no_open:
        click.echo(str(target))
        return
    _open_desk(load_workspace(target))


@cli.command()
@workspace_option
@click.option(
    "--drill",
    is_flag=True,
    help="Practise: runbooks and kill switches are walked with nothing sent, marked as drills.",
)
@_guarded
def oncall(workspace: Path | None, drill: bool) -> None:
    """Open the app on the On call area: incidents from the last sync."""
    _open_desk(_workspace(workspace), area="oncall", drill=drill)


@cli.command()
@workspace_option
@click.option("--no-push", is_flag=True, help="Only pull; leave the outbox as it is.")
@click.option(
    "--dry-run", is_flag=True, help="Say what a sync would fetch and push; change nothing."
)
@_guarded
def sync(workspace: Path | None, no_push: bool, dry_run: bool) -> None:
    """Pull incidents from the alert sources, and runs, incidents and grades from the stores;
    push grades waiting in the outbox. Exit 1 when a push or an alert source failed.

    With --dry-run, list and sample each store and say what a sync would fetch and push,
    writing nothing (the saved cursors stay where they are) and contacting no alert source."""
    from review.queue import empty_queue_note
    from review.session import load_setup
    from review.session import sync as run_sync
    from store.db import connect
    from store.outbox import pending_count
    from store.sync import PullReport
    from tui.text import counted, one_line

    ws = _workspace(workspace)
    setup = load_setup(ws)
    conn = connect(ws.db_path)
    problems = 0
    live = sys.stderr.isatty()
    bars = _SyncProgress() if live else None

    def show(name: str, report: PullReport) -> None:
        if bars is not None:
            bars.update(name, report)

    if dry_run:
        results = run_sync(conn, setup, progress=show, dry_run=True)
        if bars is not None:
            bars.stop()
        for name, pulled, _ in results:
            click.echo(
                f"{name}: would list {counted(pulled.listed, 'run')}, sample "
                f"{pulled.sampled} (fetching {pulled.hydrated} not here yet), import "
                f"{counted(pulled.scores, 'grade')} from the store"
            )
            if pulled.plan_changed:
                click.echo(
                    f"{name}: sampling plan changed: would re-sample "
                    f"{counted(pulled.resampled, 'run')}"
                )
        click.echo(
            f"outbox: would push {counted(pending_count(conn), 'grade')}"
            + ("" if not no_push else " (not with --no-push)")
        )
        click.echo("dry run: no run, grade or cursor changed; nothing was sent")
        return
    try:
        results = run_sync(conn, setup, push_grades=not no_push, progress=show)
    finally:
        if bars is not None:
            bars.stop()
    for alerts in results.alerts:
        if alerts.error:
            click.echo(f"{alerts.name}: {one_line(alerts.error, 500)}", err=True)
            problems += 1
        else:
            click.echo(
                f"{alerts.name}: listed {counted(alerts.listed, 'incident')}, "
                f"{alerts.opened} opened, "
                f"{alerts.resolved} resolved"
            )
        for p in alerts.problems:  # every one: a count of the rest would hide which
            click.echo(f"  {one_line(p, 300)}", err=True)
    for name, pulled, pushed in results:
        click.echo(
            f"{name}: listed {counted(pulled.listed, 'run')}, sampled {pulled.sampled}, "
            f"fetched {pulled.hydrated}, {counted(pulled.incidents, 'incident')}, "
            f"{counted(pulled.scores, 'grade')}"
        )
        if pulled.plan_changed:
            click.echo(
                f"{name}: sampling plan changed: {counted(pulled.resampled, 'run')} re-sampled"
            )
        if pushed is not None:
            click.echo(f"{name}: pushed {counted(pushed.pushed, 'grade')}, {pushed.failed} failed")
            if pushed.untried:
                click.echo(
                    f"{name}: the store did not answer; "
                    f"{counted(pushed.untried, 'more grade')} "
                    f"wait{'s' if pushed.untried == 1 else ''} for the next sync",
                    err=True,
                )
            for err in pushed.errors[:5]:
                click.echo(f"  push failed: {one_line(err, 300)}", err=True)
            problems += pushed.failed
        if pulled.skipped:
            click.echo(
                f"{name}: warning: skipped {counted(pulled.skipped, 'corrupt line')}", err=True
            )
        elif pulled.problems:
            click.echo(
                f"{name}: warning: {counted(len(pulled.problems), 'problem')} in the store",
                err=True,
            )
        for p in pulled.problems:  # every one, each file:line (validate lists them again)
            click.echo(f"  {one_line(p, 300)}", err=True)
    click.echo(f"outbox: {counted(pending_count(conn), 'grade')} waiting")
    note = empty_queue_note(conn, setup.reviewer, setup.plan.roster)
    if note is not None:
        click.echo(note)
    sys.exit(1 if problems else 0)


class _SyncProgress:
    """Bars on a terminal (stderr) while a sync runs: runs listed and runs fetched per store.

    Listing has no known end (a store says only whether more pages follow), so the bars count
    up with the rate; the summary lines follow on stdout when the sync ends."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.completed:>9,.0f}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._tasks: dict[str, tuple[object, object]] = {}
        self._progress.start()

    def update(self, name: str, report: object) -> None:
        if name not in self._tasks:
            self._tasks[name] = (
                self._progress.add_task(f"{name}: runs listed", total=None),
                self._progress.add_task(f"{name}: runs fetched", total=None),
            )
        listed, fetched = self._tasks[name]
        self._progress.update(listed, completed=getattr(report, "listed", 0))  # type: ignore[arg-type]
        self._progress.update(fetched, completed=getattr(report, "hydrated", 0))  # type: ignore[arg-type]

    def stop(self) -> None:
        self._progress.stop()


def _validate_all(ws: Workspace, warnings: list[str] | None = None) -> list[str]:
    """Every problem ``sync``, the desk or a walkthrough would refuse, one line each: rubrics
    (two with one id too), cards, runbooks (their graph, checks and kill-switch steps), every
    card's kill-switch targets as far as they can be checked offline, the configured stores
    (and every corrupt or torn line of the ones kept in files), and a database too new for
    this agentdeck. What is worth saying but refuses nothing (a
    token missing from this machine's keyring) goes to ``warnings``."""
    from review.rubric import check_rubrics
    from runbooks.cards import check_cards
    from runbooks.catalog import check_runbooks
    from runbooks.switch_targets import check_switch_targets
    from store.connectors import check_store_files, check_stores
    from store.db import SCHEMA_VERSION, NotADatabase, SchemaTooNew, check_version

    rubrics, problems = check_rubrics(ws.rubrics_dir)
    errors = [str(p) for p in problems]
    if ws.config.review.rubric not in rubrics and not errors:
        line = ws.line_of("review", "rubric")
        errors.append(
            f"{ws.config_path}{f':{line}' if line else ''}: review.rubric "
            f"{ws.config.review.rubric!r} is not defined in {ws.rubrics_dir}"
        )
    cards, card_problems = check_cards(ws.cards_dir)
    errors += [str(p) for p in card_problems]
    for finding in check_switch_targets(ws.cards_dir, ws.root):
        if finding.warning:
            if warnings is not None:
                warnings.append(str(finding))
        else:
            errors.append(str(finding))
    errors += [str(p) for p in check_runbooks(ws.runbooks_dir, cards).problems]
    errors += [str(p) for p in check_stores(ws)]
    if warnings is not None:
        warnings += _missing_tokens(ws)
    # Every corrupt or torn line of the stores kept in files, all of them (a sync says them
    # once, as it reads past them).
    stores = check_store_files(ws)
    errors += stores.problems
    if warnings is not None:
        warnings += stores.warnings
    if ws.db_path.exists():
        try:
            found = check_version(ws.db_path)
            if found > SCHEMA_VERSION:
                errors.append(str(SchemaTooNew(ws.db_path, found)))
        except NotADatabase as exc:
            errors.append(str(exc))
    return errors


def _missing_tokens(ws: Workspace) -> list[str]:
    """A warning for each store or alert source whose kind needs a token this machine's
    keyring does not hold (`sync` would stop there), at its config line."""
    from store.credentials import CredentialError, get_secret
    from store.plugins import ALERTS, STORES

    found: list[str] = []
    tables = [("stores", i, c, STORES) for i, c in enumerate(ws.config.stores)]
    tables += [("alerts", i, c, ALERTS) for i, c in enumerate(ws.config.alerts)]
    for table, i, cfg, registry in tables:
        plugin = registry.get(cfg.kind)
        login = getattr(plugin, "login", None)
        if login is None or login.optional:
            continue
        try:
            held = get_secret(cfg.name)
        except CredentialError as exc:
            held, why = None, f"the keyring cannot be read ({exc})"
        else:
            why = "no token in this machine's keyring"
        if not held:
            line = ws.line_of(table, i, "name")
            where = f"{ws.config_path}{f':{line}' if line else ''}"
            found.append(
                f"{where}: warning: {cfg.name!r}: {why} (the {login.prompt}); "
                f"run `agentdeck login {cfg.name}` before `agentdeck sync`"
            )
    return found


@cli.command()
@workspace_option
@_guarded
def validate(workspace: Path | None) -> None:
    """Check the config, rubrics, agent cards (and their kill-switch targets, offline), runbooks
    and stores (the file and OpenTelemetry file stores read whole: every corrupt or torn line);
    each problem names file:line.

    Exit 0 when all is well (warnings, such as a token missing from the keyring, are said and
    do not fail), 1 when problems were found, 2 when there is no workspace.
    """
    from store.documents import DocumentError
    from store.workspace import CONFIG_NAME, load_workspace
    from tui.text import one_line

    root = _workspace_root(workspace)
    if not (root / CONFIG_NAME).is_file():
        load_workspace(root)  # not a workspace at all: bad usage, exit 2 (see _guarded)
    warnings: list[str] = []
    try:
        ws = load_workspace(root)
        errors = _validate_all(ws, warnings)
    except DocumentError as exc:
        # A config that does not load is what validate is for: a problem found, not bad usage.
        errors = [str(exc)]
    for warning in warnings:
        click.echo(one_line(warning, 2000), err=True)
    for err in errors:
        click.echo(one_line(err, 2000), err=True)
    if errors:
        click.echo(f"{len(errors)} problem{'s' if len(errors) > 1 else ''} found", err=True)
        sys.exit(1)
    # Warnings (said above, on standard error) refuse nothing: the workspace is ok.
    click.echo(f"{root.resolve()}: ok")


@cli.command()
@click.argument("kind", type=click.Choice(["rubric", "card", "runbook", "config"]))
def schema(kind: str) -> None:
    """Print the JSON Schema of a rubric, agent card, runbook or agentdeck.toml (for editors)."""
    if kind == "runbook":
        from runbooks.model import runbook_schema

        click.echo(json.dumps(runbook_schema(), indent=2))
        return
    if kind == "rubric":
        from review.rubric import Rubric

        model: type = Rubric
    elif kind == "card":
        from runbooks.cards import AgentCard

        model = AgentCard
    else:
        from store.workspace import WorkspaceConfig

        model = WorkspaceConfig
    click.echo(json.dumps(model.model_json_schema(), indent=2))


@cli.command()
@workspace_option
@click.argument("name")
@click.option("--delete", is_flag=True, help="Forget the token kept for NAME instead.")
@_guarded
def login(workspace: Path | None, name: str, delete: bool) -> None:
    """Ask for the token of NAME and keep it in the OS keyring (never in a file).

    NAME is a store or an alert source from agentdeck.toml, or a kill-switch credential named
    by an agent card. On a terminal the token is read without echo; otherwise one line is read
    from standard input (``agentdeck login pd < token.txt``).
    """
    from runbooks.cards import check_cards
    from runbooks.killswitch import secret_names
    from store.credentials import SERVICE, delete_secret, set_secret

    ws = _workspace(workspace)
    known = ws.secret_names()
    cards, _problems = check_cards(ws.cards_dir)
    for secret, (users, asks) in secret_names(cards).items():
        known.setdefault(secret, (f"kill switch of {', '.join(users)}", asks))
    needless = {c.name: f"{c.kind} store" for c in ws.config.stores}
    needless.update({c.name: f"{c.kind} alert source" for c in ws.config.alerts})
    if name not in known and name in needless:
        _fail(f"{name!r} is a {needless[name]} of {ws.root}: it keeps no token")
    if name not in known:
        listing = ", ".join(f"{n} ({what})" for n, (what, _) in sorted(known.items()))
        _fail(
            f"{name!r} is not a store, an alert source or a kill-switch credential of "
            f"{ws.root} (known: {listing or 'none'})"
        )
    if delete:
        if delete_secret(name):
            click.echo(f"{name}: token removed from the OS keyring")
        else:
            click.echo(f"{name}: no token was kept in the OS keyring")
        return
    # What the kind asks (its ``login``): a key pair is kept as one secret, PUBLIC:SECRET (no
    # key holds a colon); an optional token may be left out.
    what, asks = known[name]
    if sys.stdin.isatty():
        ask = f"{asks.prompt}, as PUBLIC:SECRET," if asks.pair else asks.prompt
        token = click.prompt(
            f"{ask} for {name} ({what})", hide_input=True, default="", show_default=False
        )
    else:
        token = sys.stdin.readline()
    token = token.strip()
    if not token and asks.optional:
        click.echo(f"{name}: no token given; {name} is used without one (nothing was stored)")
        return
    if not token:
        _fail(f"{name}: no token given; nothing was stored")
    public, colon, secret = token.partition(":")
    if asks.pair and not (colon and public.strip() and secret.strip()):
        _fail(f"{name}: give the {asks.prompt} as PUBLIC:SECRET; nothing was stored")
    set_secret(name, token)
    click.echo(f"{name}: token kept in the OS keyring (service {SERVICE!r}, user {name!r})")


@cli.group()
def switch() -> None:
    """Read or set a workflow's kill switch (preflight, read-back, audit trail)."""


def _card_problem_note(problems: list[object]) -> str:
    if not problems:
        return ""
    n = len(problems)
    return f"; {n} card file{'s' if n > 1 else ''} could not be read (run `agentdeck validate`)"


@switch.command("status")
@workspace_option
@click.argument("workflow", required=False)
@_guarded
def switch_status(workspace: Path | None, workflow: str | None) -> None:
    """Read every kill-switch channel of every card (or of WORKFLOW's card) live.

    Exit 0 when every channel was read, 1 when one could not be, 2 for an unknown workflow.
    """
    from runbooks.cards import check_cards
    from runbooks.killswitch import read_status
    from tui.text import one_line

    ws = _workspace(workspace)
    cards, problems = check_cards(ws.cards_dir)
    if workflow is not None and workflow not in cards:
        _fail(
            f"no agent card for workflow {workflow!r} in {ws.cards_dir} "
            f"(known: {', '.join(sorted(cards)) or 'none'}){_card_problem_note(list(problems))}"
        )
    chosen = [cards[workflow]] if workflow else [cards[w] for w in sorted(cards)]
    rows: list[tuple[str, ...]] = [("workflow", "channel", "backend", "endpoint", "state")]
    failed = 0
    read = [st for card in chosen for st in read_status(card, ws.root)]
    _keep_switch_checks(ws, read)
    for card in chosen:
        for st in (st for st in read if st.workflow == card.workflow):
            if st.error is not None:
                failed += 1
                state = f"error: {one_line(st.error, 500)}"
            else:
                state = f"{st.state} (card tier {st.tier})"
            rows.append((st.workflow, st.channel, st.backend, one_line(st.endpoint, 200), state))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + f"  {row[4]}")
    for p in problems:
        click.echo(one_line(str(p), 2000), err=True)
    sys.exit(1 if failed or problems else 0)


def _keep_switch_checks(ws: Workspace, read: list[ChannelStatus]) -> None:
    """Keep the reads as each channel's last check, for the scorecard (best effort: a
    database that cannot be written does not stop `switch status` from answering)."""
    from runbooks.killswitch import record_checks
    from store.db import NotADatabase, SchemaTooNew, connect, explain
    from store.timestamps import now_iso

    try:
        conn = connect(ws.db_path)
        try:
            record_checks(conn, read, now_iso())
        finally:
            conn.close()
    except (sqlite3.Error, OSError, NotADatabase, SchemaTooNew) as exc:
        click.echo(f"warning: the check was not kept ({explain(exc)})", err=True)


_SECRET_HEADERS = ("authorization", "token", "key", "secret", "cookie", "session")


def _masked(headers: dict[str, str]) -> dict[str, str]:
    """Headers as shown to the operator: anything that may carry a secret is stars, whatever
    the backend already did."""
    return {
        k: "****" if any(word in k.lower() for word in _SECRET_HEADERS) else v
        for k, v in headers.items()
    }


@switch.command("set")
@workspace_option
@click.argument("workflow")
@click.argument("tier")
@click.option("--reason", default="", help="Why (kept in the audit trail). Required.")
@click.option(
    "--confirm",
    default="",
    metavar="WORKFLOW",
    help="Type the workflow's name again; nothing is sent without it.",
)
@click.option(
    "--channel",
    type=click.Choice(["primary", "second"]),
    default="primary",
    help="The card's kill switch, or its second channel (kill_switch.fallback).",
)
@click.option("--drill", is_flag=True, help="Do everything but send; audited as a drill.")
@click.option("--incident", default=None, metavar="SOURCE/ID", help="The incident this is for.")
@click.option(
    "--restore",
    is_flag=True,
    help="Raise the tier (back to the card's at most): the one action that loosens an agent.",
)
@_guarded
def switch_set(
    workspace: Path | None,
    workflow: str,
    tier: str,
    reason: str,
    confirm: str,
    channel: str,
    drill: bool,
    incident: str | None,
    restore: bool,
) -> None:
    """Lower WORKFLOW's kill switch to TIER (disabled, suggest-only, human-approve, auto-act).

    A kill switch only lowers: when the live state is already TIER or safer, nothing is sent
    (and that is audited). Raising is --restore, up to the card's tier at most. Shows what will
    be sent, the state now and the agent's recent actions taken on its own; sends only with
    --reason and --confirm WORKFLOW; reads the flag back and says verified or NOT verified.
    Every attempt and its result go to the audit trail. With --incident, a verified change
    tells the incident's alert source (an Alertmanager silence, a PagerDuty acknowledgement;
    a restore expires the silence).

    Exit 0 verified, nothing to send, or a drill that found nothing wrong; 1 not verified or
    failed; 2 bad usage, or a raise without --restore (then nothing is sent or audited).
    """
    from runbooks import audit as trail
    from runbooks.cards import SWITCH_STATES, check_cards
    from runbooks.killswitch import (
        SwitchRefused,
        channels,
        check_confirmation,
        execute,
        preflight,
        recent_auto_actions,
        value_for,
    )
    from store.db import connect
    from store.switches.base import SwitchError
    from tui.text import one_line

    ws = _workspace(workspace)
    cards, problems = check_cards(ws.cards_dir)
    card = cards.get(workflow)
    if card is None:
        _fail(
            f"no agent card for workflow {workflow!r} in {ws.cards_dir} "
            f"(known: {', '.join(sorted(cards)) or 'none'}){_card_problem_note(list(problems))}"
        )
    if tier not in SWITCH_STATES:
        _fail(f"unknown tier {tier!r} (one of: {', '.join(SWITCH_STATES)})")
    if restore and SWITCH_STATES.index(tier) > SWITCH_STATES.index(card.tier):
        _fail(
            f"{workflow}: --restore goes back to the card's tier ({card.tier}) at most, not "
            f"{tier}; nothing was sent"
        )

    index = 0 if channel == "primary" else 1
    targets = channels(card)
    if index >= len(targets):
        _fail(f"{workflow}: the card's kill switch has no second channel (kill_switch.fallback)")
    try:
        value_for(targets[index][1], card, tier)
    except SwitchError as exc:
        _fail(f"{workflow}: {exc}")
    if incident is not None:
        source, _, iid = incident.partition("/")
        if not source or not iid:
            _fail(f"--incident {incident!r}: give SOURCE/ID, e.g. alertmanager/3f9a1c")

    conn = connect(ws.db_path)
    mode = "restore" if restore else "brake"
    pre, backend = preflight(card, tier, channel=index, root=ws.root, mode=mode)
    if not restore and pre.action == "raise":
        _fail(
            f"{workflow} is {pre.current_state} now; {tier} would loosen it and a kill switch "
            f"only lowers: to raise it, add --restore; nothing was sent"
        )
    word = "restore" if restore else "kill switch"
    click.echo(
        f"{word}: {workflow} → {tier} ({pre.action}) through the {pre.channel} "
        f"({pre.target.backend} flag {pre.target.flag})"
        + ("  [DRILL: nothing will be sent]" if drill else "")
    )
    click.echo(f"  endpoint:  {one_line(pre.endpoint, 300)}")
    now = pre.current_state or "unknown"
    detail = (
        f"  ({one_line(pre.reading.detail, 200)})" if pre.reading and pre.reading.detail else ""
    )
    click.echo(f"  now:       {now}{detail}; the card's tier is {card.tier}")
    if pre.request is not None and not pre.nothing_to_send:
        req = pre.request
        click.echo(f"  will send: {req.method} {one_line(req.target, 300)}")
        for key, val in _masked(dict(req.headers)).items():
            click.echo(f"             {one_line(key, 100)}: {one_line(val, 300)}")
        if req.body is not None:
            body = req.body if isinstance(req.body, str) else json.dumps(req.body, indent=2)
            for line in body.splitlines():
                click.echo(f"             {one_line(line, 300)}")
    if pre.error:
        click.echo(f"  preflight FAILED: {one_line(pre.error, 500)}")
    actions = recent_auto_actions(conn, workflow)
    click.echo(f"recent actions {workflow} took on its own (local copy):")
    for a in actions:
        click.echo(
            f"  {a['at'][:16].replace('T', ' ')}  {one_line(a['kind'], 40)}  "
            f"{one_line(a['summary'], 120)}  (run {one_line(a['run_id'], 60)})"
        )
    if not actions:
        click.echo("  none in the local copy")

    try:
        check_confirmation(workflow, confirm, reason, reason_required=True)
    except SwitchRefused as exc:
        hint = f" with --confirm {workflow}" if confirm.strip() != workflow else " with --reason"
        _fail(f"{exc}{hint}; nothing was sent")

    def record(kind: str, body: dict[str, object]) -> None:
        # Each entry committed on its own: the attempt is on disk before anything is sent.
        trail.record(conn, actor=ws.reviewer, kind=kind, body=body, incident=incident, drill=drill)

    if pre.nothing_to_send:
        click.echo(f"  {pre.already}")
    outcome = execute(card, pre, backend, reason=reason, drill=drill, record=record)
    if outcome.drill:
        # The same verdict words as for real, DRILL beside them, and the same next steps.
        said = {
            "verified": "the target answered and would take it",
            "failed": "it would fail",
            "nothing to send": "nothing would be sent",
        }.get(outcome.word, outcome.word)
        click.echo(f"{outcome.word.upper()}, DRILL: nothing was sent; {said}")
    else:
        click.echo(outcome.verdict)
    click.echo(f"  before: {outcome.before or 'unknown'}; after: {outcome.after or 'unknown'}")
    if outcome.readback:
        click.echo(f"  read back: {one_line(outcome.readback, 300)}")
    if outcome.error:
        click.echo(f"  {one_line(outcome.error, 500)}", err=True)
    if outcome.next_steps:
        click.echo(f"  next: {'; '.join(outcome.next_steps)}", err=True)
    from runbooks.killswitch import last_read

    _keep_switch_checks(ws, [last_read(card, pre, outcome)])
    _after_switch(ws, conn, outcome, incident, reason=reason, restore=restore)
    sys.exit(0 if outcome.satisfied and outcome.error is None else 1)


def _after_switch(
    ws: Workspace,
    conn: sqlite3.Connection,
    outcome: object,
    incident: str | None,
    *,
    reason: str,
    restore: bool,
) -> None:
    """After a switch: tell the incident's alert source (on a verified change), and anchor the
    audit trail's head outside the database. Each problem is one line; nothing else changes."""
    from runbooks import audit as trail
    from runbooks import notify
    from tui.text import one_line

    if incident is not None and getattr(outcome, "verified", False):
        source, _, iid = incident.partition("/")
        tell = notify.release if restore else notify.acknowledge
        told = tell(
            conn,
            ws,
            (source, iid),
            operator=ws.reviewer,
            reason=reason,
            drill=bool(getattr(outcome, "drill", False)),
        )
        click.echo(f"  alert source: {one_line(told.summary, 300)}", err=not told.ok)
    for problem in trail.anchor(conn, url=ws.config.oncall.anchor_url):
        click.echo(f"warning: {one_line(problem, 500)}", err=True)


@cli.group()
def audit() -> None:
    """Check the audit trail's hash chain, or export an incident's timeline."""


@audit.command("verify")
@workspace_option
@_guarded
def audit_verify(workspace: Path | None) -> None:
    """Walk the hash chain, check its keys and its anchors: exit 0 when it is intact, 1 naming
    every entry edited, inserted, deleted, forged or cut off, and every anchor it contradicts."""
    from runbooks.audit import check
    from store.db import connect
    from tui.text import counted, one_line

    ws = _workspace(workspace)
    if not ws.db_path.exists():
        click.echo("0 entries, chain intact (no local database yet)")
        return
    report = check(connect(ws.db_path))
    count = report.count
    if not report.findings:
        click.echo(f"{count} entr{'y' if count == 1 else 'ies'}, chain intact")
        for note in report.notes:
            click.echo(f"  {one_line(note, 500)}")
        return
    for note in report.notes:
        click.echo(f"  {one_line(note, 500)}")
    for finding in report.findings:
        click.echo(one_line(str(finding), 1000), err=True)
    n = len(report.findings)
    checked = counted(count, "entry", "entries")
    click.echo(f"{checked} checked: {counted(n, 'problem')} found", err=True)
    sys.exit(1)


@audit.group("key")
def audit_key() -> None:
    """Carry the audit trail's key to another machine (a new laptop)."""


@audit_key.command("export")
@workspace_option
@_guarded
def audit_key_export(workspace: Path | None) -> None:
    """Print the keys this keyring holds for the trail, one line each, for `audit key import`
    on another machine. The lines are secrets: pipe them, do not keep them."""
    from runbooks import audit_keys
    from runbooks.audit import export_keys
    from store.db import connect

    ws = _workspace(workspace)
    if not ws.db_path.exists():
        _fail(f"no audit trail yet: {ws.db_path} does not exist")
    conn = connect(ws.db_path)
    problem = audit_keys.keyring_problem()
    if problem:
        click.echo(f"{audit_keys.NO_KEYRING} ({problem}): no key to export", err=True)
        sys.exit(1)
    lines = export_keys(conn)
    if not lines:
        click.echo("this keyring holds no key of this audit trail", err=True)
        sys.exit(1)
    for line in lines:
        click.echo(line)
    click.echo(
        f"{len(lines)} key line(s) written: a secret; give them to `agentdeck audit key import` "
        "on the other machine and nowhere else",
        err=True,
    )


@audit_key.command("import")
@workspace_option
@_guarded
def audit_key_import(workspace: Path | None) -> None:
    """Read key lines from `audit key export` on standard input and keep them in this keyring,
    so the entries they signed can be checked here."""
    from runbooks import audit_keys
    from runbooks.audit import database_id
    from store.db import connect, transaction

    ws = _workspace(workspace)
    conn = connect(ws.db_path)
    with transaction(conn):
        db_id = database_id(conn)
    lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
    if not lines:
        _fail("no key line on standard input: pipe in what `agentdeck audit key export` printed")
    kept = []
    for number, line in enumerate(lines, start=1):
        try:
            kept.append(audit_keys.import_line(line, db_id))
        except ValueError as exc:
            _fail(f"standard input line {number}: {exc}")
        except audit_keys.KeyringUnusable as exc:
            click.echo(f"{audit_keys.NO_KEYRING} ({exc}): the key was not kept", err=True)
            sys.exit(1)
    click.echo(f"kept key {', '.join(kept)} in the keyring; run `agentdeck audit verify`")


@audit.command("export")
@workspace_option
@click.argument("incident")
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
@output_option
@_guarded
def audit_export(workspace: Path | None, incident: str, fmt: str, output: Path | None) -> None:
    """Write INCIDENT's timeline for the postmortem (INCIDENT is SOURCE/ID, or the id alone).

    Exit 1 when the trail does not verify (the timeline says so too).
    """
    from runbooks.audit import incidents, match_incident, timeline, timeline_markdown
    from store.db import connect
    from tui.report_output import emit
    from tui.text import counted

    ws = _workspace(workspace)
    if not ws.db_path.exists():
        _fail(f"no audit entries for incident {incident!r}: {ws.db_path} does not exist yet")
    conn = connect(ws.db_path)
    keys = match_incident(conn, incident)
    if not keys:
        known = incidents(conn)
        _fail(
            f"no audit entries for incident {incident!r} "
            f"(incidents in the trail: {', '.join(known) or 'none'})"
        )
    if len(keys) > 1:
        _fail(f"incident {incident!r} is ambiguous: {', '.join(keys)}; give SOURCE/ID")
    data = timeline(conn, keys[0])
    if fmt == "md":
        text = timeline_markdown(data)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    emit(
        text,
        output,
        lambda: f"{output}: {counted(len(data['entries']), 'entry', 'entries')} of {keys[0]}",
    )
    if not data["verified"]:
        click.echo(
            f"the audit trail does NOT verify ({counted(len(data['problems']), 'problem')}); "
            "run `agentdeck audit verify`",
            err=True,
        )
        sys.exit(1)


@cli.group("import")
def import_() -> None:
    """Bring in other reviewers' grades from a file (teams that exchange files)."""


@import_.command("grades")
@workspace_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@_guarded
def import_grades_cmd(workspace: Path | None, file: Path) -> None:
    """Import the grades in FILE (JSON Lines, as `agentdeck export grades` writes them).

    All lines or none: a bad line is one error naming FILE:LINE, exit 2, nothing imported.
    Imported grades are never pushed from here and never replace a grade typed here;
    importing the same file again changes nothing."""
    from review.exchange import GradesFileError, import_grades
    from review.session import load_setup, register_rubric
    from store.db import connect

    ws = _workspace(workspace)
    setup = load_setup(ws)
    conn = connect(ws.db_path)
    register_rubric(conn, setup.rubric)
    try:
        done = import_grades(conn, file)
    except GradesFileError as exc:
        _fail(str(exc))
    click.echo(
        f"{file}: {done.lines} grades read; {done.imported} imported, {done.unchanged} already "
        f"here, {done.kept_local} left as graded on this laptop"
    )


@cli.group()
def export() -> None:
    """Write grades for another laptop, or a golden set for the regression gate."""


@export.command("grades")
@workspace_option
@click.option(
    "--all",
    "everyone",
    is_flag=True,
    help="Every complete grade here (pulled and imported ones too), not only those typed here.",
)
@click.option("--reviewer", "reviewers", multiple=True, help="Only this reviewer's (repeatable).")
@output_option
@_guarded
def export_grades_cmd(
    workspace: Path | None, everyone: bool, reviewers: tuple[str, ...], output: Path | None
) -> None:
    """Write complete grades as JSON Lines, for `agentdeck import grades` on another laptop.

    By default the grades typed on this laptop; drafts are never written."""
    from review.exchange import dumps_lines, export_grades
    from store.db import connect
    from tui.report_output import write_text

    ws = _workspace(workspace)
    if not ws.db_path.exists():
        _fail(f"{ws.db_path} does not exist yet: run `agentdeck sync` and grade first")
    conn = connect(ws.db_path)
    records = export_grades(conn, everyone=everyone, reviewers=reviewers)
    write_text(dumps_lines(records), output)
    n = len(records)
    if output is not None:
        click.echo(f"{output}: {n} grade{'' if n == 1 else 's'}")
    if not n and not everyone:
        (others,) = conn.execute("SELECT count(*) FROM grades WHERE complete = 1").fetchone()
        if others:
            click.echo(
                f"no complete grade typed on this laptop; --all writes the {others:,} complete "
                "grades here, pulled from the store or imported too",
                err=True,
            )


@export.command("golden")
@workspace_option
@click.option("--workflow", required=True, help="The workflow whose golden set to write.")
@click.option(
    "--min",
    "minimum",
    type=click.IntRange(min=0),
    default=None,
    help="Fewest cases the gate needs (default 30, or --max when smaller); fewer: exit 1.",
)
@click.option("--max", "maximum", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the choice.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False, allow_dash=True),
    default=None,
    help="Write to FILE (- for standard output); default golden/WORKFLOW.jsonl in the workspace.",
)
@_guarded
def export_golden_cmd(
    workspace: Path | None,
    workflow: str,
    minimum: int | None,
    maximum: int,
    seed: int,
    output: Path | None,
) -> None:
    """Write WORKFLOW's adjudicated and unanimous runs as a JSONL golden set, balanced across
    outcomes, at most --max cases, the same set for the same data and --seed. By default to
    golden/WORKFLOW.jsonl in the workspace, where the scorecard looks for it.

    Exit 0 with at least --min cases; exit 1 when there are fewer (they are still written, and
    stderr says how many more settled runs are needed); exit 2 on bad usage."""
    import re

    from review.golden import golden_path, golden_set
    from review.session import load_setup
    from store.db import connect
    from tui.report_output import write_text

    if minimum is not None and minimum > maximum:
        _fail(f"--min {minimum} is more than --max {maximum}")
    ws = _workspace(workspace)
    setup = load_setup(ws)
    if not ws.db_path.exists():
        _fail(f"{ws.db_path} does not exist yet: run `agentdeck sync` first")
    conn = connect(ws.db_path)
    known = [w for (w,) in conn.execute("SELECT DISTINCT workflow FROM runs ORDER BY workflow")]
    if workflow not in known:
        _fail(f"no runs of workflow {workflow!r} here (workflows: {', '.join(known) or 'none'})")
    if output is None:
        # The workflow name comes from the store: only a plain name becomes a file name.
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}", workflow):
            _fail(f"workflow {workflow!r} is not a plain file name: give -o FILE")
        output = golden_path(ws.root, workflow)
        output.parent.mkdir(exist_ok=True)
    elif str(output) == "-":
        output = None
    chosen = golden_set(conn, setup.rubric, workflow, minimum=minimum, maximum=maximum, seed=seed)
    write_text(chosen.jsonl(), output)
    spread = ", ".join(f"{k} {v}" for k, v in chosen.chosen.items()) or "none"
    available = sum(chosen.available.values())
    click.echo(
        f"golden set {workflow}: {len(chosen.cases)} cases ({chosen.outcome_criterion}: "
        f"{spread}) of {available} settled runs under {setup.rubric.id} "
        f"{setup.rubric.version}" + (f" -> {output}" if output else ""),
        err=True,
    )
    if chosen.under_minimum:
        click.echo(
            f"golden set {workflow}: {len(chosen.cases)} cases is under the minimum of "
            f"{chosen.minimum}; adjudicate disputed runs or grade more overlap runs",
            err=True,
        )
        sys.exit(1)


@cli.group()
def report() -> None:
    """Agreement between reviewers and the weekly report, from the workspace or a ratings file."""


@report.command("agreement")
@workspace_option
@click.option(
    "--ratings",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="A CSV with the columns unit,rater,value[,criterion] instead of the workspace's grades.",
)
@report_output_options
@click.option(
    "--resamples",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    help="Bootstrap resamples of the units for the 95% intervals (0: none).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="The bootstrap's seed.")
@click.option(
    "--week",
    default=None,
    metavar="YYYY-Www",
    help="Only runs started in this ISO week (UTC), or in the --weeks ending with it.",
)
@click.option(
    "--weeks",
    "weeks_text",
    default=None,
    metavar="N",
    help="Only runs of the N ISO weeks ending with --week (default: the weekly report's week).",
)
@click.option("--workflow", default=None, metavar="W", help="Only this workflow's runs.")
@_guarded
def report_agreement(
    workspace: Path | None,
    ratings: Path | None,
    fmt: str,
    output: Path | None,
    resamples: int,
    seed: int,
    week: str | None,
    weeks_text: str | None,
    workflow: str | None,
) -> None:
    """Agreement between raters per criterion: percent agreement, Krippendorff's alpha,
    Fleiss' kappa, Gwet's AC1 and Cohen's kappa per pair, with 95 % bootstrap intervals.
    Beside each figure its n, the units it compares (rated by two raters or more), marked
    when under 10; the bootstrap resamples where a figure was undefined are counted.

    Without --ratings: the workspace's complete grades, per rubric version, with figures per
    reviewer (runs graded, time per run, leniency, drift); --week/--weeks/--workflow narrow
    them to the runs started in those ISO weeks (UTC) or of that workflow.
    """
    from review.agreement import agreement_report
    from review.ratings import read_ratings
    from tui.report_output import emit, render
    from tui.text import counted

    reviewers: list[dict[str, object]] | None = None
    window: dict[str, object] | None = None
    if ratings is not None and (week or weeks_text or workflow):
        given = "--week" if week else "--weeks" if weeks_text else "--workflow"
        _fail(f"{given} reads the workspace's grades; a --ratings file has no weeks or workflows")
    if ratings is not None:
        criteria = read_ratings(ratings)
    else:
        from datetime import UTC, datetime, timedelta

        from review.ratings import grade_counts, workspace_ratings, workspace_reviewers
        from review.weekly import default_week, parse_week, week_label
        from store.db import connect

        weeks = 1
        if weeks_text is not None:
            try:
                weeks = int(weeks_text)
            except ValueError:
                weeks = 0
            if not 1 <= weeks <= 104:
                _fail(
                    f"--weeks {weeks_text!r}: give a whole number of weeks from 1 to 104, "
                    "e.g. --weeks 4"
                )
        monday = None
        if week is not None:
            try:
                monday = parse_week(week)
            except ValueError as exc:
                _fail(f"--week: {exc}")
        ws = _workspace(workspace)
        if not ws.db_path.exists():
            _fail(f"no grades yet: {ws.db_path} does not exist; run `agentdeck sync` first")
        conn = connect(ws.db_path)
        try:
            if workflow is not None:
                found = conn.execute("SELECT 1 FROM runs WHERE workflow = ? LIMIT 1", (workflow,))
                if found.fetchone() is None:
                    known = [w for (w,) in conn.execute("SELECT DISTINCT workflow FROM runs")]
                    _fail(
                        f"--workflow {workflow!r}: no runs of it here "
                        f"(workflows: {', '.join(sorted(known)) or 'none'})"
                    )
            since = until = None
            if weeks_text is not None and monday is None:
                monday, why = default_week(conn, datetime.now(UTC))
                click.echo(f"agreement up to {week_label(monday)}, {why}", err=True)
            if monday is not None:
                first = monday - timedelta(weeks=weeks - 1)
                since = f"{first.isoformat()}T00:00:00.000000Z"
                until = f"{(monday + timedelta(weeks=1)).isoformat()}T00:00:00.000000Z"
                window = {"from_week": week_label(first), "to_week": week_label(monday)}
            if workflow is not None:
                window = {**(window or {}), "workflow": workflow}
            criteria = workspace_ratings(conn, workflow=workflow, since=since, until=until)
            reviewers = workspace_reviewers(conn) if window is None else None
            counts = grade_counts(conn)
        finally:
            conn.close()
        if counts["incomplete_grades"]:
            # Said, not hidden: a grade still being written is not a rating yet.
            n = counts["incomplete_grades"]
            click.echo(
                f"{n} incomplete grade{'' if n == 1 else 's'} not counted "
                f"(from {counts['complete_grades']} complete ones)",
                err=True,
            )
    data = agreement_report(criteria, resamples=resamples, seed=seed)
    if window is not None:
        data["window"] = window
        data["grades"] = counts
    if reviewers is not None:
        data["grades"] = counts
        data["reviewers"] = reviewers
    n = len(data["criteria"])
    emit(
        render("agreement", fmt, data),
        output,
        lambda: f"{output}: agreement on {counted(n, 'criterion', 'criteria')}",
    )


@report.command("disputes")
@workspace_option
@click.option("--workflow", default=None, metavar="W", help="Only this workflow's runs.")
@click.option("--pending", is_flag=True, help="Only the runs not adjudicated yet.")
@report_output_options
@_guarded
def report_disputes(
    workspace: Path | None, workflow: str | None, pending: bool, fmt: str, output: Path | None
) -> None:
    """The adjudication queue: disputed overlap runs (reviewers chose different levels on some
    criterion), their grades side by side, and the final grade where one was set (settle them in
    the app's Reports area). A final grade set by one of the run's own reviewers (made before
    the rule that nobody settles a run they graded) is marked "graded it too"."""
    from review.adjudication import disputed, queue_dict
    from review.session import load_setup
    from store.db import connect
    from tui.report_output import emit, render
    from tui.text import counted

    ws = _workspace(workspace)
    if not ws.db_path.exists():
        _fail(f"no grades yet: {ws.db_path} does not exist; run `agentdeck sync` first")
    setup = load_setup(ws)
    runs = disputed(connect(ws.db_path), setup.rubric, workflow=workflow, pending_only=pending)
    emit(render("disputes", fmt, queue_dict(runs, setup.rubric)), output)
    own = sum(1 for r in runs if r.adjudication and r.adjudication.adjudicator in r.reviewers)
    marked = f"; {own} settled by one of its own reviewers, marked" if own else ""
    click.echo(
        f"{counted(len(runs), 'disputed run')}"
        f" ({sum(1 for r in runs if r.adjudication is None)} not adjudicated yet{marked})",
        err=True,
    )


@report.command("weekly")
@workspace_option
@click.option(
    "--weeks",
    "weeks_text",
    default="4",
    show_default=True,
    metavar="N",
    help="How many ISO weeks, ending with --week, for the trend (1 to 104).",
)
@click.option("--workflow", default=None, metavar="W", help="Only this workflow.")
@click.option(
    "--week",
    default=None,
    metavar="YYYY-Www",
    help="The report's (last) ISO week, e.g. 2026-W47 (default: the current week, UTC; "
    "with --push the last complete week with grades).",
)
@report_output_options
@click.option(
    "--push",
    is_flag=True,
    help="Also push the week's figures, labelled week=YYYY-Www, to the Pushgateway of "
    "[metrics] in agentdeck.toml.",
)
@_guarded
def report_weekly(
    workspace: Path | None,
    weeks_text: str,
    workflow: str | None,
    week: str | None,
    fmt: str,
    output: Path | None,
    push: bool,
) -> None:
    """Task success and intervention rates (Wilson 95 % intervals), review coverage, flagged
    runs, incidents, cost per run and budget, per workflow and ISO week (UTC).

    Exit 0 ok; 1 the report was written but the push failed; 2 bad input.
    """
    from review.session import load_setup
    from review.weekly import (
        BudgetLimit,
        metric_figures,
        parse_week,
        week_label,
        weekly_report,
    )
    from runbooks.cards import check_cards
    from store.db import connect
    from tui.report_output import emit, render
    from tui.text import counted, one_line

    try:
        weeks = int(weeks_text)
    except ValueError:
        weeks = 0
    if not 1 <= weeks <= 104:
        _fail(f"--weeks {weeks_text!r}: give a whole number of weeks from 1 to 104, e.g. --weeks 4")
    monday = None
    if week is not None:
        try:
            monday = parse_week(week)
        except ValueError as exc:
            _fail(f"--week: {exc}")
    ws = _workspace(workspace)
    if push and ws.config.metrics is None:
        line = ws.line_of("metrics")
        _fail(
            f"{ws.config_path}{f':{line}' if line else ''}: --push needs a [metrics] table, "
            'e.g. [metrics] pushgateway = "http://127.0.0.1:9091"'
        )
    setup = load_setup(ws)
    cards, problems = check_cards(ws.cards_dir)
    budgets = {
        w: BudgetLimit(c.budget.monthly_usd, tuple(c.budget.alerts)) for w, c in cards.items()
    }
    conn = connect(ws.db_path)
    if workflow is not None and workflow not in cards:
        found = conn.execute("SELECT 1 FROM runs WHERE workflow = ? LIMIT 1", (workflow,))
        if found.fetchone() is None:
            known = sorted(
                {r[0] for r in conn.execute("SELECT DISTINCT workflow FROM assignments")}
                | set(cards)
            )
            _fail(
                f"--workflow {workflow!r}: no runs and no agent card for it "
                f"(known: {', '.join(known) or 'none'})"
            )
    if monday is None and push:
        from datetime import UTC, datetime, timedelta

        from review.weekly import last_graded_week, week_of

        # Pushed figures are the last complete week with grades: the current week (or the last
        # with runs) is still being graded and would push a coverage of 0 and no rates.
        now = datetime.now(UTC)
        monday = last_graded_week(conn, setup.rubric, now)
        why = "the last complete week with grades"
        if monday is None:
            monday = week_of(now) - timedelta(weeks=1)
            why = f"the last complete week (no week has grades under {setup.rubric.id})"
        click.echo(
            f"weekly report and push for {week_label(monday)}, {why} (--week YYYY-Www for another)",
            err=True,
        )
    elif monday is None:
        from datetime import UTC, datetime

        from review.weekly import default_week

        monday, why = default_week(conn, datetime.now(UTC))
        if why != "this week":
            click.echo(
                f"weekly report for {week_label(monday)}, {why} here (--week YYYY-Www for another)",
                err=True,
            )
    data = weekly_report(
        conn, setup.rubric, weeks=weeks, week=monday, workflow=workflow, budgets=budgets
    )
    emit(
        render("weekly", fmt, data),
        output,
        lambda: f"{output}: weekly report {data.week}, {counted(len(data.workflows), 'workflow')}",
    )
    if problems:
        n = len(problems)
        click.echo(
            f"warning: {n} card file{'s' if n > 1 else ''} could not be read, so "
            "their budgets are missing (run `agentdeck validate`)",
            err=True,
        )
    if push:
        from store.metrics import MetricsPushFailed, push_figures

        assert ws.config.metrics is not None
        cfg = ws.config.metrics
        try:
            groups = push_figures(
                cfg.pushgateway,
                cfg.job,
                metric_figures(data),
                week=data.week,
                timeout=cfg.timeout,
            )
        except MetricsPushFailed as exc:
            click.echo(f"agentdeck: {one_line(str(exc), 2000)}", err=True)
            sys.exit(1)
        click.echo(
            f"pushed {groups} workflow groups for {data.week} to {cfg.pushgateway} "
            f"(job {cfg.job}, week label {data.week})",
            err=True,
        )


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="agentdeck")


if __name__ == "__main__":
    main()
