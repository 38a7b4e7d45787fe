"""The build fingerprint: the same for the same files however installed, different as
soon as one file differs (what lets ``schedkit nodes`` and ``check`` tell code apart)."""

from __future__ import annotations

import shutil
from pathlib import Path

from schedkit.version import fingerprint

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "schedkit"


def test_a_copy_has_the_same_build_and_any_edit_changes_it(tmp_path: Path) -> None:
    copy = tmp_path / "schedkit"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert fingerprint(copy) == fingerprint(PACKAGE)
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"bytecode differs per install")
    assert fingerprint(copy) == fingerprint(PACKAGE)
    edited = copy / "clock.py"
    edited.write_text(edited.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert fingerprint(copy) != fingerprint(PACKAGE)


def test_a_moved_file_changes_the_build(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "m.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "b" / "m.py").rename(tmp_path / "b" / "n.py")
    assert fingerprint(tmp_path / "a") != fingerprint(tmp_path / "b")
