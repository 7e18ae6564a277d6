"""Precise wake-ups for the scheduler: it sleeps until the earliest due moment, and work that
makes something due earlier (a run report with a deadline, a schedule's next slot, a retry)
wakes it. The wake-up work fills this in; until then the scheduler polls at its intervals."""
from datetime import datetime


def wake_at(moment: datetime | None) -> None:
    """Tell this process's scheduler that something falls due at `moment` (None: nothing)."""
