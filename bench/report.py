"""The one table the benchmark prints: a row per measurement, a column per database, each value
marked `pass` or `MISS` against its target."""
import os
import platform
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Cell:
    text: str
    passed: bool | None = None  # None: no target
    rate: float | None = None  # a throughput (per second), compared with the machine's ceiling

    def render(self) -> str:
        if self.passed is None:
            return self.text
        return f"{self.text}  {'pass' if self.passed else 'MISS'}"


@dataclass
class Row:
    label: str
    target: str
    cells: dict[str, Cell] = field(default_factory=dict)  # database label -> cell


def machine() -> str:
    """`2 cores, 23.5 GiB RAM, Linux 6.1, Python 3.12.1, SQLite 3.40.1` from /proc and the runtime."""
    memory = "? GiB"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return (f"{os.cpu_count()} cores, {memory} RAM, {platform.system()} {platform.release().split('-')[0]}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")


def table(rows: list[Row], databases: list[str]) -> str:
    """A plain-text table (also valid Markdown: pipes and a separator line)."""
    header = ["Measurement", "Target", *databases]
    lines = [[row.label, row.target, *(row.cells[name].render() if name in row.cells else "—"
                                       for name in databases)] for row in rows]
    widths = [max(len(line[column]) for line in [header, *lines]) for column in range(len(header))]

    def format_line(values):
        return "| " + " | ".join(value.ljust(width) for value, width in zip(values, widths, strict=True)) + " |"

    separator = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([format_line(header), separator, *(format_line(line) for line in lines)])
