"""Liveness-based memory plan."""
from __future__ import annotations


def plan_memory(graph):
    return None
