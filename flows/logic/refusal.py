"""Input the platform refuses: the person who sent it reads what to fix, and nothing was written.

Refusals are expected outcomes, not faults: the terminal shows them as one block of problems, without the
tracebacks a stage's failure carries (those stay in the Prefect log, and `mlops run --verbose` shows them).
"""

from __future__ import annotations

SHOWN = 20  # names listed in one problem; the rest are counted


class Refusal(ValueError):
    """A bad batch, landing file or definition; `problems` are the sentences a person acts on."""

    def __init__(self, headline: str, problems: list[str]) -> None:
        self.headline = headline
        self.problems = problems
        super().__init__(headline + (": " + "; ".join(problems) if problems else ""))

    def block(self) -> str:
        """The refusal as a person reads it: the headline, then one problem a line."""
        if len(self.problems) <= 1:
            return str(self)
        return f"{self.headline}:\n" + "\n".join(f"  - {p}" for p in self.problems)


def refusal_names() -> set[str]:
    """The class names of every refusal, as Prefect's state messages spell them (`LandingError: ...`)."""
    found: set[str] = set()
    pending: list[type] = [Refusal]
    while pending:
        cls = pending.pop()
        found.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return found


def listed(items: list[str]) -> str:
    """At most SHOWN of the items, and a count of the rest."""
    rest = len(items) - SHOWN
    return ", ".join(items[:SHOWN]) + (f" and {rest} more" if rest > 0 else "")


def quoted(names: list[str]) -> str:
    """Names quoted (so surrounding spaces show), at most SHOWN of them, and a count of the rest."""
    return listed([repr(n) for n in names])
