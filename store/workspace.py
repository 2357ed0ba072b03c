"""The workspace: a folder with ``agentdeck.toml`` and the team's rubrics, cards and runbooks.

Found from ``--workspace``, then ``AGENTDECK_WORKSPACE``, then the current folder upwards, then the
user config dir. The database lives beside the config unless the config says otherwise.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from store.doc_cache import cached_model
from store.documents import DocumentError, LocatedError, load_toml_model, toml_line
from store.identity import ADJUDICATED

CONFIG_NAME = "agentdeck.toml"
APP_NAME = "agentdeck"


class WorkspaceSection(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str = "agentdeck workspace"
    reviewer: str = Field(min_length=1)
    database: str = ".agentdeck/agentdeck.db"


class StoreConfig(BaseModel):
    """One remote (or file-backed) store of agent runs. Tokens are never here: see the keyring."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: Literal["file", "phoenix", "langfuse", "otlp-file", "langsmith"]
    path: str | None = None
    url: str | None = None
    project: str | None = None
    #: The span attribute (or observation metadata key) that names a run's workflow, dotted:
    #: ``metadata.workflow`` is the key ``workflow`` inside the ``metadata`` attribute.
    workflow_attribute: str = "metadata.workflow"
    #: Seconds before one request gives up.
    timeout: float = Field(default=30.0, gt=0)
    #: Langfuse, LangSmith: an annotation queue whose pending items are the sample for this
    #: store (in place of the sampling plan); grading an item completes it.
    queue: str | None = None

    @model_validator(mode="after")
    def _needs(self) -> StoreConfig:
        if self.queue is not None and self.kind not in ("langfuse", "langsmith"):
            raise LocatedError(
                "`queue` is a Langfuse annotation queue id or a LangSmith one", ("queue",)
            )
        if self.kind == "langsmith" and not self.project:
            raise ValueError("a langsmith store needs `project` (the tracing project's name)")
        if self.kind == "file" and not self.path:
            raise ValueError("a file store needs `path` (the folder with runs.jsonl)")
        if self.kind == "otlp-file" and not self.path:
            raise ValueError("an otlp-file store needs `path` (the collector's JSON-lines file)")
        if self.kind in ("phoenix", "langfuse") and not self.url:
            raise ValueError(f"a {self.kind} store needs `url`")
        return self


class AlertSourceConfig(BaseModel):
    """One source of incidents. Tokens are never here: ``agentdeck login NAME`` keeps them in the
    OS keyring under the source's name."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: Literal["alertmanager", "pagerduty"]
    url: str = Field(min_length=1)
    #: Alertmanager: the alert label that names the workflow, and the one naming the failure mode.
    workflow_label: str = "workflow"
    failure_mode_label: str = "failure_mode"
    #: Alertmanager: label matchers sent as ``filter`` (e.g. ``team="billing"``).
    filters: list[str] = Field(default_factory=list)
    #: PagerDuty: the services to list (``service_ids[]``), and the workflow of each service id.
    services: dict[str, str] = Field(default_factory=dict)
    #: Seconds before a request gives up.
    timeout: float = Field(default=10.0, gt=0)
    #: PagerDuty: the operator's email, sent as ``From`` to acknowledge an incident and add a
    #: note (PagerDuty requires a user of the account there). Without it nothing is sent.
    from_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

    @model_validator(mode="after")
    def _needs(self) -> AlertSourceConfig:
        if self.from_email is not None and self.kind != "pagerduty":
            raise LocatedError(
                "`from_email` is the From header of a pagerduty source", ("from_email",)
            )
        if self.kind == "pagerduty" and not self.services:
            raise ValueError(
                "a pagerduty source needs `services` (service id = workflow), "
                'e.g. services = { PABC123 = "billing-support" }'
            )
        return self


class ReviewSection(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    rubric: str
    roster: list[str] = Field(min_length=1)
    overlap: float = Field(default=0.2, ge=0.0, le=1.0)
    overlap_reviewers: int = Field(default=2, ge=2)
    #: "auto": the last required answer saves and opens the next run; "enter": the desk stays
    #: on the run (every answer is still saved at once) until `enter` opens the next.
    advance: Literal["auto", "enter"] = "auto"

    @field_validator("roster")
    @classmethod
    def _distinct(cls, roster: list[str]) -> list[str]:
        if len(set(roster)) != len(roster):
            raise ValueError("roster names must be distinct")
        if ADJUDICATED in roster:
            # Final grades are pushed under this name; a reviewer with it would mix with them.
            raise ValueError(f"{ADJUDICATED!r} is reserved for final grades: choose another name")
        return roster

    #: Who may settle disputed runs in the Reports area (names from the roster); absent:
    #: anyone on the roster. Nobody settles a run they graded themselves, whatever this says.
    adjudicators: list[str] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _adjudicators_on_roster(self) -> ReviewSection:
        for i, name in enumerate(self.adjudicators or []):
            if name not in self.roster:
                # A misspelt name would silently leave nobody able to settle a dispute.
                raise LocatedError(
                    f"adjudicator {name!r} is not in review.roster {self.roster}",
                    ("adjudicators", i),
                )
        return self


class AlwaysInclude(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    status: list[str] = Field(default_factory=list)
    feedback: list[str] = Field(default_factory=list)
    incidents: bool = False


class SamplingSection(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    salt: str = Field(min_length=1)
    default_rate: float = Field(default=0.02, ge=0.0, le=1.0)
    rates: dict[str, float] = Field(default_factory=dict)
    always_include: AlwaysInclude = Field(default_factory=AlwaysInclude)

    @field_validator("rates")
    @classmethod
    def _rates(cls, rates: dict[str, float]) -> dict[str, float]:
        for workflow, rate in rates.items():
            if not 0.0 <= rate <= 1.0:
                raise LocatedError(
                    f"rate for {workflow!r} must be between 0 and 1, got {rate}", (workflow,)
                )
        return rates

    def rate_for(self, workflow: str) -> float:
        return self.rates.get(workflow, self.default_rate)


class SyncSection(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    #: A run's input or output, or a step's arguments or result, longer than this many
    #: characters is cut with a marker when stored.
    max_value_chars: int = Field(default=1_000_000, ge=1_000)


class MetricsSection(BaseModel):
    """Where ``agentdeck report weekly --push`` sends the aggregate figures. No secret here:
    a Pushgateway behind authentication is reached through a local proxy."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    #: The Pushgateway's base URL, e.g. ``http://127.0.0.1:9091``.
    pushgateway: str = Field(pattern=r"^https?://[^\s]+$")
    #: The ``job`` label of every pushed group.
    job: str = Field(default="agentdeck", pattern=r"^[A-Za-z0-9_.:-]+$")
    #: Seconds before a push gives up.
    timeout: float = Field(default=10.0, gt=0)


class OncallSection(BaseModel):
    """How the On call area behaves: where it opens, how it tells the alert source, where the
    audit trail's head is anchored besides the user's state directory."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    #: With an incident firing, ``agentdeck`` opens on On call (with a banner) instead of Review.
    open_on_firing: bool = True
    #: How long an Alertmanager silence created for an incident lasts.
    silence_minutes: int = Field(default=120, ge=1, le=7 * 24 * 60)
    #: Also anchor the audit trail's head here (an HTTP endpoint taking a JSON POST).
    anchor_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")


class PathsSection(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    rubrics: str = "rubrics"
    cards: str = "cards"
    runbooks: str = "runbooks"


class WorkspaceConfig(BaseModel):
    """The parsed ``agentdeck.toml``."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    workspace: WorkspaceSection
    stores: list[StoreConfig] = Field(min_length=1)
    alerts: list[AlertSourceConfig] = Field(default_factory=list)
    review: ReviewSection
    sampling: SamplingSection
    paths: PathsSection = Field(default_factory=PathsSection)
    sync: SyncSection = Field(default_factory=SyncSection)
    metrics: MetricsSection | None = None
    oncall: OncallSection = Field(default_factory=OncallSection)
    keys: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> WorkspaceConfig:
        # LocatedError points file:line at the offending key rather than at no line at all.
        names = [s.name for s in self.stores]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise LocatedError(f"store name {name!r} is used twice", ("stores", i, "name"))
        for i, source in enumerate(self.alerts):
            if source.name in names or source.name in [a.name for a in self.alerts[:i]]:
                raise LocatedError(
                    f"alert source name {source.name!r} is already used by a store or source",
                    ("alerts", i, "name"),
                )
        if self.workspace.reviewer not in self.review.roster:
            reviewer, roster = self.workspace.reviewer, self.review.roster
            raise LocatedError(
                f"reviewer {reviewer!r} is not in review.roster {roster}", ("workspace", "reviewer")
            )
        return self


class Workspace:
    """A loaded workspace: its folder and its config, with paths resolved."""

    def __init__(self, root: Path, config: WorkspaceConfig) -> None:
        self.root = root
        self.config = config

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def reviewer(self) -> str:
        return self.config.workspace.reviewer

    @property
    def db_path(self) -> Path:
        return (self.root / self.config.workspace.database).resolve()

    def path(self, relative: str) -> Path:
        return (self.root / relative).resolve()

    def line_of(self, *loc: str | int) -> int | None:
        """The line of a key in ``agentdeck.toml`` (``line_of("stores", 0, "path")``), or of the
        nearest table around it; None when the file does not say."""
        return toml_line(self.config_path, loc)

    def secret_names(self) -> dict[str, str]:
        """The keyring names the config uses: each store and alert source, with its kind."""
        names = {s.name: f"{s.kind} store" for s in self.config.stores}
        names.update({a.name: f"{a.kind} alert source" for a in self.config.alerts})
        return names

    @property
    def rubrics_dir(self) -> Path:
        return self.path(self.config.paths.rubrics)

    @property
    def cards_dir(self) -> Path:
        return self.path(self.config.paths.cards)

    @property
    def runbooks_dir(self) -> Path:
        return self.path(self.config.paths.runbooks)


def load_workspace(root: Path) -> Workspace:
    """Load ``root/agentdeck.toml``; raise DocumentError naming file:line if it is malformed."""
    path = root / CONFIG_NAME
    if not path.is_file():
        raise DocumentError(path, None, "no agentdeck.toml here (run `agentdeck demo` to try one)")
    config = cached_model(WorkspaceConfig, path, lambda: load_toml_model(WorkspaceConfig, path))
    return Workspace(root.resolve(), config)


def find_workspace(explicit: Path | None = None, cwd: Path | None = None) -> Path | None:
    """Find the workspace folder: explicit, $AGENTDECK_WORKSPACE, cwd upwards, user config dir."""
    if explicit is not None:
        return explicit
    env = os.environ.get("AGENTDECK_WORKSPACE")
    if env:
        return Path(env)
    here = (cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file():
            return folder
    user = Path(platformdirs.user_config_dir(APP_NAME))
    if (user / CONFIG_NAME).is_file():
        return user
    return None


def demo_source() -> Path:
    """The shipped demo workspace: inside the wheel, or sample-data/ in a checkout."""
    packaged = resources.files("store") / "demo_workspace"
    if packaged.is_dir():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parent.parent / "sample-data"
    if (checkout / CONFIG_NAME).is_file():
        return checkout
    raise FileNotFoundError("the demo workspace is missing from this installation")


def demo_target() -> Path:
    """Where ``agentdeck demo`` puts its copy: the user data dir, never the source tree."""
    return Path(platformdirs.user_data_dir(APP_NAME)) / "demo"


def copy_demo(target: Path | None = None, *, fresh: bool = False) -> Path:
    """Copy the demo workspace to ``target`` (default: user data dir) unless it is already there.

    An existing copy is kept, grades and all, unless ``fresh`` is set.
    """
    target = target or demo_target()
    if fresh and target.exists():
        shutil.rmtree(target)
    if not (target / CONFIG_NAME).is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(
            demo_source(),
            target,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", ".agentdeck", "generate.py"),
        )
    return target
