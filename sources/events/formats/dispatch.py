"""Format dispatch: :func:`detect_format` and :func:`open_recording`, one entry for every event file.

Formats: AEDAT 4.0 (iniVation DV), Prophesee DAT / EVT 2.0 / EVT 3.0 ``.raw``, N-MNIST ``.bin``,
AEDAT 3.1 (DVS128 Gesture ``.aedat``), AEDAT 2.0 (jAER ``.aedat``), NumPy ``.npy`` / ``.npz``. The
format is read from the file's magic bytes or text header first and from its extension only when
the content has no signature (N-MNIST, a headerless ``.dat``), so a misleading extension never decides.

Each format's reader (a :class:`~.recording.EventRecording` subclass) is imported only when a file
of that format is opened; the readers import :mod:`.recording`, never this module. See
:mod:`.recording` for the streaming contract and the bad-input policy.
"""

from __future__ import annotations

from pathlib import Path

from ..event_array import SensorSize
from .recording import EventFileError, EventRecording, file_error

FORMAT_NAMES = ("aedat4", "dat", "evt2", "evt3", "nmnist", "aedat3.1", "aedat2", "npy", "npz")
_SNIFF_BYTES = 64
_AEDAT_VERSION_LINE = 12  # "#!AER-DAT" + "x.y"


# what a folder listing takes
EVENT_EXTENSIONS = (".aedat4", ".aedat", ".aedat2", ".raw", ".dat", ".evt", ".bin", ".npy", ".npz")
EXTENSION_FORMATS = {
    ".aedat4": ("aedat4",),
    ".aedat": ("aedat3.1", "aedat2"),
    ".aedat2": ("aedat2",),  # iniVation's aedat4to2 names its output so
    ".raw": ("evt2", "evt3"),
    ".evt": ("evt2", "evt3"),
    ".dat": ("dat",),
    ".bin": ("nmnist",),
    ".npy": ("npy",),
    ".npz": ("npz",),
}
FORMAT_EXTENSIONS = {
    "aedat4": ".aedat4",
    "aedat3.1": ".aedat",
    "aedat2": ".aedat",
    "evt2": ".raw",
    "evt3": ".raw",
    "dat": ".dat",
    "nmnist": ".bin",
    "npy": ".npy",
    "npz": ".npz",
}
CONTENT_LABELS = {
    "aedat4": "an AEDAT 4.0 recording",
    "aedat3.1": "an AEDAT 3.1 recording",
    "aedat2": "an AEDAT 2.0 (jAER) recording",
    "evt2": "a Prophesee EVT 2.0 recording",
    "evt3": "a Prophesee EVT 3.0 recording",
    "dat": "a Prophesee DAT recording",
    "nmnist": "an N-MNIST recording",
    "npy": "a NumPy .npy array",
    "npz": "a NumPy .npz archive",
}
_MAGICS = (  # signature, what it starts, what was expected
    (
        b"#!AER-DAT",
        "an AEDAT header",
        "an AEDAT 4.0, 3.1 or 2.0 header ('#!AER-DAT4.0', '#!AER-DAT3.1' or '#!AER-DAT2.0', then the header)",
    ),
    (b"\x93NUMPY", "a NumPy .npy header", "a NumPy .npy header ('\\x93NUMPY', then the array header)"),
    (b"PK\x03\x04", "a zip (.npz) archive", "a zip (.npz) archive"),
)


def content_note(path: Path, format_name: str) -> str | None:
    """The rename advice for a file whose content (``format_name``) is not what its extension says; None if it is."""
    expected = EXTENSION_FORMATS.get(path.suffix.lower())
    if expected is None or format_name in expected:
        return None
    label, extension = CONTENT_LABELS[format_name], FORMAT_EXTENSIONS[format_name]
    return f"{path.name} holds {label} (by its content); rename it to {extension}."


def _too_short_for_magic(path: Path, head: bytes) -> None:
    """Raise for a file (``head``: all of it, when short) that ends inside the signature it starts with:
    a cut copy, not a version problem. Two bytes at least must match (one says nothing)."""
    for magic, starts, expected in _MAGICS:
        need = _AEDAT_VERSION_LINE if magic.startswith(b"#!AER") else len(magic)
        if 2 <= len(head) < need and magic[: len(head)] == head[: len(magic)]:
            raise file_error(
                path, f"a {len(head)}-byte file, too short to hold {starts} (truncated)", expected, "Re-copy the file."
            )


def detect_format(path: Path) -> str:
    """Name of the format of ``path`` (one of :data:`FORMAT_NAMES`), from content first.

    Raises :class:`EventFileError` for missing, empty, cut-before-the-signature and unrecognised files.
    """
    path = Path(path)
    if path.is_dir():
        raise file_error(path, "a folder", "an event recording file", "Name one recording inside it.")
    if not path.is_file():
        raise file_error(
            path,
            "no such file",
            "an event recording",
            "Check the path (relative paths start at the current directory).",
        )
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if not head:
        raise file_error(path, "an empty file (0 bytes)", "an event recording", "Re-copy or re-record the file.")
    suffix = path.suffix.lower()
    _too_short_for_magic(path, head)
    if head.startswith(b"#!AER-DAT4.0"):
        return "aedat4"
    if head.startswith(b"#!AER-DAT3.1"):
        return "aedat3.1"
    if head.startswith(b"#!AER-DAT2.0"):
        return "aedat2"
    if head.startswith(b"#!AER-DAT"):
        version = head[9:12].decode("ascii", "replace")
        raise file_error(
            path, f"AEDAT version {version}", "AEDAT 4.0, 3.1 or 2.0", "Convert the file with DV or jAER to AEDAT 4.0."
        )
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "npz"
    if head.startswith(b"%"):
        from .read_prophesee import read_prophesee_header

        return read_prophesee_header(path).format_name
    by_suffix = {".bin": "nmnist", ".dat": "dat"}
    if suffix in by_suffix:
        return by_suffix[suffix]
    known = {
        ".aedat4": "AEDAT 4 magic '#!AER-DAT4.0'",
        ".aedat": "AEDAT magic '#!AER-DAT3.1' or '#!AER-DAT2.0'",
        ".aedat2": "AEDAT magic '#!AER-DAT2.0'",
        ".raw": "a Prophesee '% ...' header",
        ".npy": "NumPy magic '\\x93NUMPY'",
        ".npz": "a zip archive",
    }
    if suffix in known:
        raise file_error(
            path, f"first bytes {head[:12]!r}", known[suffix], "The file is corrupt or not what its extension says."
        )
    raise file_error(
        path,
        f"an unknown format (extension {suffix or 'none'!r}, first bytes {head[:12]!r})",
        "AEDAT 4.0/3.1/2.0, Prophesee DAT/EVT2/EVT3, N-MNIST .bin, .npy or .npz",
        "N-MNIST and headerless DAT files have no signature: name them .bin or .dat "
        "(from Python: pass format_name=... to open_recording).",
    )


def open_recording(
    path: str | Path,
    sensor_size: SensorSize | None = None,
    *,
    format_name: str | None = None,
    allow_truncated: bool = False,
) -> EventRecording:
    """Open an event file for streaming (nothing but headers is read here).

    ``sensor_size`` overrides the geometry the file states (or the format's known size); it is
    required for ``.npy`` files, for Prophesee files whose header gives no geometry and for AEDAT 2.0
    files of a jAER chip not known here.
    ``format_name`` (one of :data:`FORMAT_NAMES`) skips detection. A file is opened as what its
    content says; when that is not what its extension says and the reader refuses the file, the
    error ends with :func:`content_note`'s rename advice. See :mod:`.recording` for
    ``allow_truncated`` and the error policy.
    """
    path = Path(path)
    note = None
    if format_name is None:
        format_name = detect_format(path)
        note = content_note(path, format_name)
    elif format_name not in FORMAT_NAMES:
        raise ValueError(f"format_name must be one of {FORMAT_NAMES}, got {format_name!r}")
    elif not path.is_file() or path.stat().st_size == 0:
        detect_format(path)  # raises the missing / empty file error
    try:
        return _open_as(path, format_name, sensor_size, allow_truncated)
    except EventFileError as error:
        if note is None:
            raise
        raise type(error)(f"{error} {note}") from None


def _open_as(path: Path, format_name: str, sensor_size: SensorSize | None, allow_truncated: bool) -> EventRecording:
    """The reader of ``format_name`` for ``path`` (imported on first use)."""
    if format_name == "aedat4":
        from .read_aedat4 import Aedat4Recording as recording_class
    elif format_name in ("dat", "evt2", "evt3"):
        from .read_prophesee import PropheseeRecording

        return PropheseeRecording(path, format_name, sensor_size, allow_truncated)
    elif format_name == "nmnist":
        from .read_nmnist import NMnistRecording as recording_class
    elif format_name == "aedat3.1":
        from .read_aedat31 import Aedat31Recording as recording_class
    elif format_name == "aedat2":
        from .read_aedat2 import Aedat2Recording as recording_class
    else:
        from .read_numpy import open_numpy_recording

        return open_numpy_recording(path, format_name, sensor_size, allow_truncated)
    return recording_class(path, sensor_size, allow_truncated)


__all__ = ["EVENT_EXTENSIONS", "FORMAT_NAMES", "content_note", "detect_format", "open_recording"]
