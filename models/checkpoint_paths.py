"""Where checkpoints are and how a ``--model`` value names one, without importing torch: the command
line checks model names with it before it loads the heavy modules (a typo fails at once, not after
seconds of start-up). :mod:`.checkpoint` re-exports all of it."""

from __future__ import annotations

from pathlib import Path

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.pt"


class CheckpointError(ValueError):
    """A model name or folder that does not hold a usable checkpoint."""


def shipped_model_names() -> list[str]:
    return sorted(path.parent.name for path in CHECKPOINT_DIR.glob(f"*/{CONFIG_FILE}"))


def holds_config(folder: Path) -> bool:
    """Whether ``folder`` holds a ``config.json`` (a name too long for the file system holds none)."""
    try:
        return (folder / CONFIG_FILE).is_file()
    except OSError:  # ENAMETOOLONG and the like: no such checkpoint
        return False


def resolve_checkpoint(name_or_path: str | Path) -> Path:
    """Folder of a checkpoint given its folder path or the name of a shipped one."""
    candidate = Path(name_or_path)
    if holds_config(candidate):
        return candidate
    shipped = CHECKPOINT_DIR / str(name_or_path)
    if holds_config(shipped):
        return shipped
    raise CheckpointError(
        f"no model {str(name_or_path)!r}: expected a folder with {CONFIG_FILE} and {WEIGHTS_FILE}, "
        f"or one of the shipped models {shipped_model_names()}"
    )
