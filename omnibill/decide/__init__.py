"""Decide stage: which channel each document goes to, and why."""

from omnibill.decide.single import Decision, choose_channel

__all__ = ["Decision", "choose_channel"]
