"""Developer tooling that never ships in an image: the local services of `make up` and the generated pages
of docs/."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
