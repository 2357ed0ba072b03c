"""Generate a review workspace whose database holds N hydrated runs, all in one reviewer's queue.

Sync is far too slow to fill a database with a million runs, so rows are written directly with
bulk ``executemany`` in big transactions, following the schema of ``store.db`` migration 1. The
data is deterministic (seeded): two builds with the same arguments are the same database.

Every run is assigned to the reviewer (reason "sample"), so the queue itself is N long: the worst
case for the desk. A few runs already carry a complete grade (as if pulled from the store).

Generation runs with ``journal_mode=OFF`` and ``synchronous=OFF``; the finished database is
switched back to WAL, the mode every agentdeck connection expects.

    uv run python -m tests.bench.dbgen 1000000          # build (or reuse) the cached 1M workspace
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from store.db import SCHEMA_VERSION, migrate_db

#: Bump when the generated data changes shape: cached databases of older versions are ignored.
GENERATOR_VERSION = 1
SEED = 20261124
#: Runs per transaction while generating.
CHUNK = 100_000

#: The window the runs are spread over: four weeks, like the demo.
_BASE_EPOCH = 1_793_318_400  # 2026-10-30T00:00:00Z
_SPAN_S = 28 * 24 * 3600

_MINIMAL_CONFIG = """\
[workspace]
name = "agentdeck bench"
reviewer = "{reviewer}"

[[stores]]
name = "bench"
kind = "file"
path = "store"

[review]
rubric = "support-quality"
roster = ["{reviewer}", "ben"]

[sampling]
salt = "bench"
default_rate = 1.0
"""

_MINIMAL_RUBRIC = """\
id: support-quality
title: Support agent weekly review
criteria:
  - id: task_success
    metric: task_success
    question: Did the agent complete the customer's task correctly?
    scale: {kind: binary, levels: [{value: pass, key: p}, {value: fail, key: f}]}
  - id: intervention
    metric: intervention
    question: Would a human have had to step in?
    scale: {kind: binary, levels: [{value: "yes", key: y}, {value: "no", key: n}]}
  - id: tone
    question: Tone and clarity
    required: false
    scale:
      kind: ordinal
      levels: [{value: 1, key: "1"}, {value: 3, key: "3"}, {value: 5, key: "5"}]
"""


@dataclass(frozen=True)
class GenResult:
    """Where a generated workspace is and what it cost."""

    root: Path
    db_path: Path
    n_runs: int
    n_steps: int
    seconds: float
    db_bytes: int
    cached: bool = False

    def describe(self) -> str:
        how = "reused from cache" if self.cached else f"generated in {self.seconds:.1f} s"
        return (
            f"{self.n_runs:,} runs, {self.n_steps:,} steps, "
            f"{self.db_bytes / 1e6:,.1f} MB database, {how} ({self.db_path})"
        )


# -- the workspace folder -----------------------------------------------------------------------


def _make_workspace(root: Path, reviewer: str, source: Path | None) -> None:
    """Copy the demo (or ``source``) workspace into ``root`` and make ``reviewer`` its reviewer."""
    from store.workspace import CONFIG_NAME, copy_demo

    if source is not None:
        shutil.copytree(
            source,
            root,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", ".agentdeck", "generate.py"),
        )
    else:
        try:
            copy_demo(root)
        except FileNotFoundError:
            (root / "rubrics").mkdir(parents=True, exist_ok=True)
            (root / CONFIG_NAME).write_text(_MINIMAL_CONFIG.format(reviewer=reviewer))
            (root / "rubrics" / "support-quality.yaml").write_text(_MINIMAL_RUBRIC)
    # The generated database stands in for sync: never let a stray sync pull demo runs into it.
    shutil.rmtree(root / "store", ignore_errors=True)
    (root / "store").mkdir()
    config = root / CONFIG_NAME
    text = config.read_text()
    text = re.sub(
        r'(?m)^(reviewer\s*=\s*)"[^"]*"', lambda m: f'{m.group(1)}"{reviewer}"', text, count=1
    )
    config.write_text(text)


# -- deterministic content ----------------------------------------------------------------------

_WORKFLOWS = ("billing-support", "crm-update", "refund-approvals")
_WORKFLOW_WEIGHTS = (0.55, 0.30, 0.15)

_ASKS = {
    "billing-support": [
        "Hi, I was charged twice for my {plan} plan this month ({ref}). Can you refund the "
        "duplicate charge of ${amount}? I already contacted my bank and they told me to ask you.",
        "Why did my invoice {ref} go up to ${amount}? Nobody told me the price of the {plan} "
        "plan would change, and I would like an explanation before I pay it.",
        "I cancelled my {plan} subscription last week but I still see a pending charge of "
        "${amount} on invoice {ref}. Please make sure I am not billed again.",
        "Can you send me a copy of invoice {ref} with our VAT number on it? Our accounting team "
        "needs it before the end of the month. Thanks!",
    ],
    "crm-update": [
        "Customer called: new billing contact for account {ref} is the finance team, and the "
        "{plan} plan renewal should go to the new address. Update the CRM record please.",
        "Merge the duplicate contacts for account {ref}; both belong to the same person, and the "
        "one created last week has the right phone number and the {plan} plan.",
        "Account {ref} moved offices. Update the shipping address and note that their {plan} "
        "plan seats drop to {seats} from next month.",
    ],
    "refund-approvals": [
        "Refund request {ref}: customer on the {plan} plan asks for ${amount} back for an "
        "outage day. Policy allows credits up to $50 without approval; check and decide.",
        "Approve or reject refund {ref} of ${amount}: the customer says the {plan} plan "
        "features they paid for were missing for two weeks after the migration.",
    ],
}

_REPLIES = {
    "billing-support": [
        "I found the duplicate charge on invoice {ref} and issued a refund of ${amount}. It "
        "should reach your card in 3-5 business days. I'm sorry for the trouble!",
        "The {plan} plan price changed on the 1st; the notice went out 30 days ago. Invoice {ref} "
        "is correct at ${amount}, but I can move you to annual billing to save 15%.",
        "Your {plan} subscription is cancelled and invoice {ref} is voided, so no further "
        "charge will be taken. You keep access until the end of the current period.",
        "I've attached a copy of invoice {ref} with your VAT number added. Let me know if your "
        "accounting team needs anything else.",
    ],
    "crm-update": [
        "Updated account {ref}: billing contact set to the finance team and renewal notices for "
        "the {plan} plan redirected. Change logged in the CRM history.",
        "Merged the two contacts on account {ref}, keeping the newer phone number; {seats} seats "
        "on the {plan} plan are unchanged.",
        "I could not update account {ref}: the CRM rejected the change. Escalating to a person.",
    ],
    "refund-approvals": [
        "Approved refund {ref} of ${amount} as a service credit: within policy for the {plan} "
        "plan outage. Customer notified by email.",
        "Rejected refund {ref}: ${amount} exceeds the $50 limit for automatic approval; sent to "
        "a human approver with the outage timeline attached.",
    ],
}

_PLANS = ("Starter", "Team", "Business", "Enterprise")

#: Appended to a customer message or a reply, so texts spread over ~150–300 characters.
_ASK_TAILS = (
    "",
    "\n\nSent from my phone",
    "\n\nThanks, Dana (customer since 2019, {seats} seats)",
    "\n\nThis is the third time I write about this. Please answer today, it is urgent for us.",
)
_REPLY_TAILS = (
    "",
    " Reference: {ref}.",
    " Is there anything else I can help you with today?",
    "\n\nBest regards,\nAcme Support (automated assistant; a person reviews a sample of replies)",
)

_TOOLS = {
    "billing-support": ("crm_lookup", "payments_api", "kb_search"),
    "crm-update": ("crm_lookup", "crm_update"),
    "refund-approvals": ("payments_api", "policy_check"),
}

_ERRORS = (
    ("TimeoutError", "payments_api did not answer within 10 s"),
    ("HTTPError", "502 Bad Gateway from upstream"),
    ("ValidationError", "amount must be a positive number"),
)

_ACTIONS = {
    "billing-support": ("refund", "reply", "reply", "escalate"),
    "crm-update": ("crm_update", "crm_update", "escalate"),
    "refund-approvals": ("refund", "reject", "escalate"),
}


def _iso(seconds: float) -> str:
    whole = int(seconds)
    ms = int((seconds - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{ms:03d}000Z"


def _runs_and_steps(
    rng: random.Random, source: str, first: int, last: int, n_runs: int
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Rows for runs ``first..last`` (1-based ids): (runs, steps, assignments-without-reviewer)."""
    spacing = _SPAN_S / max(n_runs, 1)
    runs: list[tuple[object, ...]] = []
    steps: list[tuple[object, ...]] = []
    queue: list[tuple[object, ...]] = []
    dumps = json.dumps
    for pk in range(first, last + 1):
        workflow = rng.choices(_WORKFLOWS, _WORKFLOW_WEIGHTS)[0]
        start = _BASE_EPOCH + (pk - 1) * spacing + rng.random() * spacing * 0.9
        fields = {
            "ref": f"{'INV' if workflow == 'billing-support' else 'ACC'}-{pk:07d}",
            "plan": rng.choice(_PLANS),
            "amount": f"{rng.randint(5, 180)}.{rng.randint(0, 99):02d}",
            "seats": rng.randint(2, 60),
        }
        n_steps = rng.randint(2, 4)
        tools = _TOOLS[workflow]
        failed = rng.random() < 0.04
        t = start
        total_latency = 0
        tin_total = 0
        tout_total = 0
        for idx in range(n_steps):
            is_llm = idx == 0 or idx == n_steps - 1
            latency = rng.randint(300, 2500) if is_llm else rng.randint(40, 900)
            err = _ERRORS[pk % len(_ERRORS)] if failed and idx == n_steps - 2 else (None, None)
            if is_llm:
                tin, tout = rng.randint(400, 2400), rng.randint(40, 400)
                name = "gpt-4.1-mini"
                args = dumps({"messages": 2 + idx, "temperature": 0.2})
                result = None if idx == 0 else dumps({"finish_reason": "stop"})
            else:
                tin = tout = None
                name = tools[idx % len(tools)]
                args = dumps({"ref": fields["ref"], "amount": fields["amount"]})
                result = None if err[0] else dumps({"ok": True, "id": f"tx_{pk:08x}{idx}"})
            steps.append(
                (pk, idx, "llm" if is_llm else "tool", name, _iso(t), latency, args, result)
                + err
                + (tin, tout)
            )
            t += latency / 1000
            total_latency += latency
            tin_total += tin or 0
            tout_total += tout or 0
        status = "error" if failed else "ok"
        roll = rng.random()
        feedback = "negative" if roll < 0.03 else "positive" if roll < 0.10 else None
        action = rng.choice(_ACTIONS[workflow])
        started_at = _iso(start)
        runs.append(
            (
                pk,
                source,
                f"{rng.getrandbits(128):032x}",
                workflow,
                started_at,
                _iso(start + total_latency / 1000),
                status,
                feedback,
                None if roll > 0.95 else fields["ref"],
                tin_total,
                tout_total,
                round(tin_total * 0.4e-6 + tout_total * 1.6e-6, 6),
                total_latency,
                1,
                (rng.choice(_ASKS[workflow]) + rng.choice(_ASK_TAILS)).format(**fields),
                (rng.choice(_REPLIES[workflow]) + rng.choice(_REPLY_TAILS)).format(**fields),
                dumps(
                    {"kind": action, "status": "failed" if failed else "done", "summary": action},
                    sort_keys=True,
                ),
                dumps(sorted({workflow.split("-")[0], fields["plan"].lower()})),
            )
        )
        queue.append((pk, workflow, status, started_at))
    return runs, steps, queue


_INSERT_RUN = (
    "INSERT INTO runs (id, source, run_id, workflow, started_at, ended_at, status, feedback, "
    "business_ref, tokens_in, tokens_out, cost_usd, latency_ms, hydrated, input, output, "
    "final_action, tags) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_STEP = (
    "INSERT INTO steps (run, idx, kind, name, started_at, latency_ms, arguments, result, "
    "error_type, error_message, tokens_in, tokens_out) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _assignments(reviewer: str, queue: list[tuple[object, ...]]) -> Iterator[tuple[object, ...]]:
    for pk, workflow, status, started_at in queue:
        yield (reviewer, pk, workflow, status, started_at, "sample", 0)


def graded_runs(n_runs: int) -> list[int]:
    """The run ids that carry a complete grade in a generated database (a few, spread out)."""
    k = min(500, max(1, n_runs // 200))
    step = max(n_runs // k, 1)
    return list(range(step // 2 + 1, n_runs + 1, step))[:k]


def build_db(
    path: Path,
    n_runs: int,
    *,
    reviewer: str = "ana",
    workspace: Path | None = None,
    seed: int = SEED,
    progress: bool = False,
) -> GenResult:
    """Create a workspace at ``path`` (copied from ``workspace``, default the demo) whose
    database holds ``n_runs`` hydrated runs with 2–4 steps each, all assigned to ``reviewer``."""
    from review.session import load_setup, register_rubric
    from store.workspace import load_workspace

    t0 = time.perf_counter()
    path = Path(path)
    _make_workspace(path, reviewer, workspace)
    ws = load_workspace(path)
    if ws.reviewer not in ws.config.review.roster:
        raise ValueError(f"reviewer {reviewer!r} is not in the roster of {ws.config_path}")
    setup = load_setup(ws)
    source = ws.config.stores[0].name
    db_path = ws.db_path
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (db_path, db_path.with_name(db_path.name + "-wal")):
        stale.unlink(missing_ok=True)

    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-524288")  # 512 MiB: the run_id index is filled at random
    conn.execute("PRAGMA temp_store=MEMORY")
    migrate_db(conn)

    rng = random.Random(seed)
    n_steps = 0
    for first in range(1, n_runs + 1, CHUNK):
        last = min(first + CHUNK - 1, n_runs)
        runs, steps, queue = _runs_and_steps(rng, source, first, last, n_runs)
        conn.execute("BEGIN")
        conn.executemany(_INSERT_RUN, runs)
        conn.executemany(_INSERT_STEP, steps)
        conn.executemany(
            "INSERT INTO assignments (reviewer, run, workflow, status, started_at, reason, "
            "graded) VALUES (?, ?, ?, ?, ?, ?, ?)",
            _assignments(reviewer, queue),
        )
        conn.execute("COMMIT")
        n_steps += len(steps)
        if progress:
            print(
                f"  dbgen: {last:,}/{n_runs:,} runs  {time.perf_counter() - t0:6.1f} s", flush=True
            )

    rubric = setup.rubric
    values = {c.id: c.scale.levels[0].value for c in rubric.criteria if c.required}
    stamp = _iso(_BASE_EPOCH + _SPAN_S)
    graded = graded_runs(n_runs)
    conn.execute("BEGIN")
    register_rubric(conn, rubric)
    conn.executemany(
        'INSERT INTO grades (run, reviewer, rubric_id, rubric_version, "values", comment, '
        "escalate, seconds_spent, complete, origin, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, NULL, 0, 42.0, 1, 'remote', ?, ?)",
        [
            (
                pk,
                reviewer,
                rubric.id,
                rubric.version,
                json.dumps(values, sort_keys=True),
                stamp,
                stamp,
            )
            for pk in graded
        ],
    )
    conn.executemany(
        "UPDATE assignments SET graded = 1 WHERE reviewer = ? AND run = ?",
        [(reviewer, pk) for pk in graded],
    )
    conn.executemany(
        "INSERT INTO incidents (source, incident_id, workflow, title, severity, status, "
        "starts_at, ends_at, summary, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                source,
                f"INC-{i:04d}",
                _WORKFLOWS[i % len(_WORKFLOWS)],
                f"Elevated tool errors in {_WORKFLOWS[i % len(_WORKFLOWS)]}",
                ("warning", "critical")[i % 2],
                "resolved",
                _iso(_BASE_EPOCH + i * _SPAN_S / 8),
                _iso(_BASE_EPOCH + i * _SPAN_S / 8 + 3600),
                "payments_api timeouts above 20% for an hour",
                json.dumps({"team": "payments"}),
            )
            for i in range(8)
        ],
    )
    conn.executemany(
        "INSERT INTO sync_state (store, cursor, synced_at, skipped, note) VALUES (?, ?, ?, 0, ?)",
        [
            (s.name, "bench:end", stamp, "generated by tests/bench/dbgen.py")
            for s in ws.config.stores
        ],
    )
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    return GenResult(
        root=path,
        db_path=db_path,
        n_runs=n_runs,
        n_steps=n_steps,
        seconds=time.perf_counter() - t0,
        db_bytes=db_path.stat().st_size,
    )


# -- the cache ----------------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where generated workspaces are kept between runs ($AGENTDECK_BENCH_CACHE to move it)."""
    env = os.environ.get("AGENTDECK_BENCH_CACHE")
    return Path(env) if env else Path(tempfile.gettempdir()) / "agentdeck-bench-cache"


def _cache_key(n_runs: int, reviewer: str, seed: int, workspace: Path | None) -> str:
    """Generator and schema version, arguments, and the source config and rubrics: a change to
    any of them makes a new database rather than reusing one that no longer fits."""
    from store.workspace import demo_source

    h = hashlib.sha256(f"{GENERATOR_VERSION}/{SCHEMA_VERSION}/{n_runs}/{reviewer}/{seed}".encode())
    try:
        src = workspace or demo_source()
    except FileNotFoundError:
        src = None
    if src is not None:
        for f in sorted([src / "agentdeck.toml", *sorted((src / "rubrics").glob("*.yaml"))]):
            if f.is_file():
                h.update(f.name.encode() + f.read_bytes())
    return f"v{GENERATOR_VERSION}-n{n_runs}-{h.hexdigest()[:12]}"


def cached_db(
    n_runs: int,
    *,
    reviewer: str = "ana",
    workspace: Path | None = None,
    seed: int = SEED,
    progress: bool = True,
) -> GenResult:
    """The generated workspace for these arguments, built once and then reused.

    Reuse means benchmarks that write (grades, the desk's own state) leave their traces for the
    next run; the desk benchmark only moves and reads, the grading benchmark works on a copy.
    """
    root = cache_dir() / _cache_key(n_runs, reviewer, seed, workspace)
    done = root / ".complete"
    if done.is_file():
        info = json.loads(done.read_text())
        db_path = Path(info["db_path"])
        return GenResult(
            root, db_path, n_runs, info["n_steps"], info["seconds"], db_path.stat().st_size, True
        )
    cache_dir().mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f"{root.name}.", dir=cache_dir()))
    try:
        result = build_db(
            building / "ws",
            n_runs,
            reviewer=reviewer,
            workspace=workspace,
            seed=seed,
            progress=progress,
        )
        shutil.rmtree(root, ignore_errors=True)
        # The workspace's database path is relative to its folder, so moving the folder is safe.
        (building / "ws").rename(root)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    db_path = root / result.db_path.relative_to(result.root)
    (root / ".complete").write_text(
        json.dumps({"db_path": str(db_path), "n_steps": result.n_steps, "seconds": result.seconds})
    )
    return GenResult(root, db_path, n_runs, result.n_steps, result.seconds, result.db_bytes)


def main(argv: list[str]) -> int:
    n = int(argv[0].replace("_", "")) if argv else 1_000_000
    result = cached_db(n)
    print(result.describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
