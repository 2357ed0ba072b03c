"""What a store kind declares about itself (a stand-in until the plugin registry lands: only
the ``Login`` description is here)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Login:
    """The secret ``agentdeck login NAME`` asks for: the prompt; ``pair``: a key pair (two
    secrets); ``optional``: Enter for none (a server without authentication)."""

    prompt: str
    pair: bool = False
    optional: bool = False
