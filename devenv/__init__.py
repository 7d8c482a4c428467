"""Developer tooling that never ships in an image: the local services of `make up` and the generated pages
of docs/."""

from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def chart_image(name: str) -> str:
    """The reference (repository:tag) of an image the chart's values name, e.g. `flowRunnerGpu`."""
    image = yaml.safe_load((REPO / "charts" / "mlops-platform" / "values.yaml").read_text())["images"][name]
    return f"{image['repository']}:{image['tag']}"
