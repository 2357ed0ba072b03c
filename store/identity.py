"""Identities shared with remote stores (see DESIGN.md, "Identities").

A grade's remote id per criterion is a UUIDv5 of ``source/run_id/criterion/reviewer`` so that
re-pushing an edited grade updates the same remote score instead of creating a second one.
"""

from __future__ import annotations

import uuid

#: Fixed namespace for agentdeck score ids. Never change it: remote scores are keyed on it.
NAMESPACE = uuid.UUID("6f1f4c1e-4d0b-5c55-9a57-61676e746465")

#: The name of the step-level score: the step a reviewer marked as the first wrong one. Its
#: value is the step's number as a person reads it at the desk (1 is the run's first step; the
#: database keeps the index, ``steps.idx``, one less), and the score sits on that step's span.
#: A pull finds the step by that span when the run's steps have one, else by the number.
FIRST_WRONG_STEP = "first_wrong_step"


#: The reviewer identity an adjudicated (final) grade is pushed under: one fixed pseudo-reviewer,
#: so re-adjudicating a run updates the same remote scores whoever the adjudicator is. Its scores
#: carry ``metadata.kind == ADJUDICATED`` and the adjudicator's name; a pull maps them back into
#: the ``adjudications`` table, never into a reviewer's grade.
ADJUDICATED = "adjudicated"


def score_id(source: str, run_id: str, criterion: str, reviewer: str) -> str:
    """Return the deterministic remote id of one reviewer's score on one criterion of a run."""
    return str(uuid.uuid5(NAMESPACE, f"{source}/{run_id}/{criterion}/{reviewer}"))
