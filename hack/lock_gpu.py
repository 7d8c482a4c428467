"""Re-lock the GPU image's dependency set (images/flow-runner-gpu) at uv.lock's versions: `make lock-gpu`.

Its pyproject's constraint-dependencies are rewritten from uv.lock's export, so that every package but
xgboost (the CUDA wheel for xgboost-cpu, at the same version) is the one the CPU image and the tests run.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / "images" / "flow-runner-gpu"
BEGIN, END = "constraint-dependencies = [  # make lock-gpu writes these\n", "]  # end of uv.lock's pins\n"


def exported_pins(lock_dir: Path) -> list[str]:
    """`uv export` of the project locked in `lock_dir`: one `name==version[ ; marker]` line a package."""
    export = subprocess.run(
        [
            "uv",
            "export",
            "--frozen",
            "--no-default-groups",
            "--no-hashes",
            "--no-emit-project",
            "--no-header",
        ],
        cwd=lock_dir,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line.strip() for line in export.splitlines() if "==" in line and not line.startswith((" ", "#"))]


def cpu_pins() -> list[str]:
    return [pin for pin in exported_pins(ROOT) if not pin.startswith("xgboost-cpu")]


def main() -> None:
    pyproject = GPU / "pyproject.toml"
    text = pyproject.read_text()
    pins = "".join(f'    "{pin}",\n' for pin in cpu_pins())
    text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _: BEGIN + pins + END, text, flags=re.S)
    pyproject.write_text(text)
    subprocess.run(["uv", "lock"], cwd=GPU, check=True)


if __name__ == "__main__":
    main()
