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

if TYPE_CHECKING:
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
            from store.db import DatabaseUnavailable, NotADatabase, SchemaTooNew, explain

            if isinstance(exc, SchemaTooNew | NotADatabase | DatabaseUnavailable | ConnectorError):
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
    import fcntl
    import os

    global _LOCK
    path = ws.db_path.with_name("desk.lock")
    fh = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        holder = fh.read().strip() or "another process"
        fh.close()
        _fail(
            f"{ws.root}: the desk is already open on this workspace (pid {holder}); "
            "use that window, or close it first"
        )
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    _LOCK = fh


def _open_desk(ws: Workspace, area: str = "review", *, drill: bool = False) -> None:
    from review.session import load_setup
    from store.db import connect

    # Check everything that can be wrong with the input before the screen takes over the
    # terminal, so a bad rubric or a too-new database is a one-line error, not a broken UI.
    setup = load_setup(ws)
    connect(ws.db_path).close()
    from tui.app import check_keymap, make_app

    check_keymap(ws, setup.rubric)
    _hold_workspace(ws)

    app = make_app(ws, area=area, drill=drill)
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


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@workspace_option
@click.version_option(package_name="agentdeck")
@click.pass_context
@_guarded
def cli(ctx: click.Context, workspace: Path | None) -> None:
    """agentdeck: the terminal desk for people who keep AI agents dependable.

    With no command, opens the review desk on the current workspace.
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
@_guarded
def oncall(workspace: Path | None) -> None:
    """Open the app on the On call area: incidents from the last sync."""
    _open_desk(_workspace(workspace), area="oncall")


@cli.command()
@workspace_option
@click.option("--no-push", is_flag=True, help="Only pull; leave the outbox as it is.")
@_guarded
def sync(workspace: Path | None, no_push: bool) -> None:
    """Pull runs, incidents and grades; push grades waiting in the outbox."""
    from review.session import load_setup
    from review.session import sync as run_sync
    from store.db import connect
    from store.outbox import pending_count
    from store.sync import PullReport
    from tui.text import one_line

    ws = _workspace(workspace)
    setup = load_setup(ws)
    conn = connect(ws.db_path)
    problems = 0
    live = sys.stderr.isatty()

    def show(name: str, report: PullReport) -> None:
        if live:
            click.echo(
                f"\r{name}: {report.listed} runs listed, {report.sampled} sampled…",
                nl=False,
                err=True,
            )

    results = run_sync(conn, setup, push_grades=not no_push, progress=show)
    if live:
        click.echo("\r\033[K", nl=False, err=True)
    for alerts in results.alerts:
        if alerts.error:
            click.echo(f"{alerts.name}: {one_line(alerts.error, 500)}", err=True)
            problems += 1
        else:
            click.echo(
                f"{alerts.name}: listed {alerts.listed} incidents, {alerts.opened} opened, "
                f"{alerts.resolved} resolved"
            )
        for p in alerts.problems[:10]:
            click.echo(f"  {one_line(p, 300)}", err=True)
    for name, pulled, pushed in results:
        click.echo(
            f"{name}: listed {pulled.listed} runs, sampled {pulled.sampled}, "
            f"hydrated {pulled.hydrated}, {pulled.incidents} incidents, {pulled.scores} grades"
        )
        if pushed is not None:
            click.echo(f"{name}: pushed {pushed.pushed} grades, {pushed.failed} failed")
            for err in pushed.errors[:5]:
                click.echo(f"  push failed: {one_line(err, 300)}", err=True)
            problems += pushed.failed
        if pulled.skipped:
            click.echo(f"{name}: warning: skipped {pulled.skipped} corrupt lines", err=True)
        elif pulled.problems:
            click.echo(f"{name}: warning: {len(pulled.problems)} problems in the store", err=True)
        for p in pulled.problems[:10]:
            click.echo(f"  {one_line(p, 300)}", err=True)
        if len(pulled.problems) > 10:
            click.echo(f"  … and {len(pulled.problems) - 10} more", err=True)
    click.echo(f"outbox: {pending_count(conn)} grades waiting")
    sys.exit(1 if problems else 0)


def _validate_all(ws: Workspace) -> list[str]:
    """Every problem ``sync`` or the desk would refuse, one line each: rubrics (two with one
    id too), cards, the configured stores, and a database too new for this agentdeck."""
    from review.rubric import check_rubrics
    from runbooks.cards import check_cards
    from store.connectors import check_stores
    from store.db import SCHEMA_VERSION, NotADatabase, SchemaTooNew, check_version

    rubrics, problems = check_rubrics(ws.rubrics_dir)
    errors = [str(p) for p in problems]
    if ws.config.review.rubric not in rubrics and not errors:
        line = ws.line_of("review", "rubric")
        errors.append(
            f"{ws.config_path}{f':{line}' if line else ''}: review.rubric "
            f"{ws.config.review.rubric!r} is not defined in {ws.rubrics_dir}"
        )
    errors += [str(p) for p in check_cards(ws.cards_dir)[1]]
    errors += [str(p) for p in check_stores(ws)]
    if ws.db_path.exists():
        try:
            found = check_version(ws.db_path)
            if found > SCHEMA_VERSION:
                errors.append(str(SchemaTooNew(ws.db_path, found)))
        except NotADatabase as exc:
            errors.append(str(exc))
    return errors


@cli.command()
@workspace_option
@_guarded
def validate(workspace: Path | None) -> None:
    """Check the config, rubrics, agent cards and stores; each problem names file:line.

    Exit 0 when all is well, 1 when problems were found, 2 when there is no workspace.
    """
    from store.documents import DocumentError
    from store.workspace import CONFIG_NAME, load_workspace
    from tui.text import one_line

    root = _workspace_root(workspace)
    if not (root / CONFIG_NAME).is_file():
        load_workspace(root)  # not a workspace at all: bad usage, exit 2 (see _guarded)
    try:
        ws = load_workspace(root)
        errors = _validate_all(ws)
    except DocumentError as exc:
        # A config that does not load is what validate is for: a problem found, not bad usage.
        errors = [str(exc)]
    for err in errors:
        click.echo(one_line(err, 2000), err=True)
    if errors:
        click.echo(f"{len(errors)} problem{'s' if len(errors) > 1 else ''} found", err=True)
        sys.exit(1)
    click.echo(f"{root.resolve()}: ok")


@cli.command()
@click.argument("kind", type=click.Choice(["rubric", "card", "config"]))
def schema(kind: str) -> None:
    """Print the JSON Schema of a rubric, agent card or agentdeck.toml (for editors)."""
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


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="agentdeck")


if __name__ == "__main__":
    main()
