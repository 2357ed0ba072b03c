"""Kill-switch backends: the clients that flip and read back the flag an agent obeys.

Each backend (Unleash, a flagd flag file, a generic HTTP endpoint, LaunchDarkly) knows only
flags and values; what a tier means for a flag is decided in :mod:`runbooks.killswitch`.
"""
