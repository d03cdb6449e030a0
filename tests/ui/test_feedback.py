"""The one helper every page action runs through: refusals under their fields, and a
spinner (with running time) for work that takes a while."""

from __future__ import annotations

from contextlib import contextmanager

from portal.ui import feedback


def test_every_action_runs_under_a_spinner_with_its_running_time(monkeypatch, app_database):
    shown = []

    @contextmanager
    def spinner(text: str, *, show_time: bool = False):
        shown.append((text, show_time))
        yield

    monkeypatch.setattr(feedback.st, "spinner", spinner)
    assert feedback.perform(lambda session: 42, busy="Registering the file's leads…") == 42
    assert feedback.perform(lambda session: 7) == 7
    assert shown == [("Registering the file's leads…", True), ("Working…", True)]
