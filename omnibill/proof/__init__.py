"""Proof of a run: a stratified sample of the real documents in every channel, for a person to approve."""
