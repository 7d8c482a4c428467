"""Dataset definitions on disk (`<MLOPS_DATASETS_DIR>/<name>/dataset.yaml`) and their derived-feature code.

`features.derived` names `module:function`. A module that is a file beside the definition
(`features:derive` for `datasets/<name>/features.py`) is loaded from there under a name of its own, so two
datasets' `features.py` never collide; any other module is imported as usual
(`flows.logic.features:loan_ratios`).

A pipeline resolves its dataset's definition once: the one published to the data store
(`mlops dataset publish NAME`, `<data>/definitions/<name>.yaml`: how a cluster gets a new dataset without an
image rebuild), else the file in the datasets folder. It stores the text by its hash and hands stages that
hash (a `DefinitionRef`), so every stage of one pipeline reads the same definition. Feature code is never
read from the data store: it runs in every stage, so it comes with the image (or the checkout).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from flows.adapters.objectstore import open_fs
from flows.contracts import DefinitionRef
from flows.feature_code import DEFINITION_FILE, derived_function, features_file
from flows.logic.definition import DatasetDefinition, DefinitionError, parse_definition
from flows.settings import Settings


class UnknownDataset(DefinitionError):
    """No definition of that name."""

    def __init__(self, message: str) -> None:
        ValueError.__init__(self, message)
        self.where, self.problems = "", [message]


# The datasets that come with the code (the loan demo): beside `flows/`, in a checkout and in the image.
BUNDLED_DATASETS = Path(__file__).resolve().parents[2] / "datasets"


def definition_path(name: str, settings: Settings) -> Path:
    """Where the named definition is: in MLOPS_DATASETS_DIR, else among the bundled ones; where a new one
    is written (MLOPS_DATASETS_DIR) when it is in neither."""
    own = settings.datasets_dir / name / DEFINITION_FILE
    bundled = BUNDLED_DATASETS / name / DEFINITION_FILE
    return bundled if not own.is_file() and bundled.is_file() else own


def load_definition(name: str, settings: Settings) -> DatasetDefinition:
    """The named dataset's definition in the datasets folder, checked (its derived-feature function
    included)."""
    path = definition_path(name, settings)
    return _checked(name, _local_text(name, settings), str(path), path.parent)


def _local_text(name: str, settings: Settings) -> str:
    path = definition_path(name, settings)
    if not path.is_file():
        folders = (settings.datasets_dir, BUNDLED_DATASETS)
        known = sorted({p.parent.name for folder in folders for p in folder.glob(f"*/{DEFINITION_FILE}")})
        raise UnknownDataset(
            f"no dataset {name!r}: {path} does not exist (datasets known: "
            f"{', '.join(known) or 'none'}); draft one with "
            f"`mlops dataset init {name} --from FILE --label COLUMN`"
        )
    return path.read_text()


def _checked(name: str, text: str, where: str, folder: Path) -> DatasetDefinition:
    definition = parse_definition(text, where)
    if definition.name != name:
        raise DefinitionError(where, [f"name: {definition.name!r} differs from the dataset's name {name!r}"])
    derived_function(definition, folder)  # a definition whose feature code does not import is refused now
    return definition


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def published_url(name: str, settings: Settings) -> str:
    return f"{settings.definitions_url}/{name}.yaml"


def publish_definition(name: str, settings: Settings) -> DatasetDefinition:
    """Check the datasets folder's definition and make it the one pipelines in these settings' data store
    use (`mlops dataset publish`): a cluster's stages then need no image with it."""
    definition = load_definition(name, settings)
    fs, path = open_fs(published_url(name, settings), settings)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    fs.pipe_file(path, _local_text(name, settings).encode())
    return definition


def resolve_definition(name: str, settings: Settings) -> tuple[DefinitionRef, DatasetDefinition]:
    """The definition a pipeline of `name` trains with (published, else the datasets folder's), stored by
    the hash of its text for the pipeline's stages."""
    fs, path = open_fs(published_url(name, settings), settings)
    folder = definition_path(name, settings).parent
    if fs.exists(path):
        text, where = fs.cat_file(path).decode(), published_url(name, settings)
    else:
        text, where = _local_text(name, settings), str(definition_path(name, settings))
    definition = _checked(name, text, where, folder)
    sha = _sha256(text.encode())
    fs, stored = open_fs(f"{settings.definitions_url}/{sha}.yaml", settings)
    if not fs.exists(stored):
        fs.makedirs(stored.rsplit("/", 1)[0], exist_ok=True)
        fs.pipe_file(stored, text.encode())
    code = features_file(definition, folder)
    ref = DefinitionRef(name=name, sha256=sha, features_sha256=_sha256(code.read_bytes()) if code else "")
    return ref, definition


def stored_definition_text(sha256: str, settings: Settings) -> tuple[str, str]:
    """Where the definition of that hash is stored, and its text, checked against the hash."""
    where = f"{settings.definitions_url}/{sha256}.yaml"
    fs, path = open_fs(where, settings)
    if not fs.exists(path):
        raise DefinitionError(where, ["no definition of that hash is stored: was the data store reset?"])
    text = fs.cat_file(path).decode()
    if _sha256(text.encode()) != sha256:
        raise DefinitionError(
            where, ["the stored definition does not match its hash: the data store is damaged"]
        )
    return where, text


def fetch_definition(ref: DefinitionRef, settings: Settings) -> DatasetDefinition:
    """The definition a stage was handed, read by its hash; its feature code must be the pipeline's."""
    return fetch_definition_source(ref, settings)[0]


def fetch_definition_source(
    ref: DefinitionRef, settings: Settings
) -> tuple[DatasetDefinition, str, Path | None]:
    """The definition a stage was handed, its text, and its derived-feature file (when it has one)."""
    where, text = stored_definition_text(ref.sha256, settings)
    folder = definition_path(ref.name, settings).parent
    definition = _checked(ref.name, text, where, folder)
    code = features_file(definition, folder)
    found = _sha256(code.read_bytes()) if code else ""
    if found != ref.features_sha256:
        raise DefinitionError(
            str(folder),
            [
                f"features.derived: this stage's feature code ({code or 'none'}) is not the pipeline's: "
                "run stages from the same image (or checkout) as the pipeline"
            ],
        )
    return definition, text, code
