"""The project states its own contract (docs/contract.md) and cites it: no tracked file refers to a
design document or a shared folder outside the repository."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Pointers to a document the repository lacks: the design file, a path into the shared folder (relative
# or bare), a section sign after the word "design". Built from parts so this file holds none of them.
_DOC, _FOLDER, _SECTION = "design" + ".md", "shared" + "/", "design" + " §"
OUTSIDE = re.compile(
    "|".join((re.escape(_DOC), re.escape(".." + "/" + _FOLDER), r"(?<![\w-])" + re.escape(_FOLDER), r"\b" + _SECTION)),
    re.IGNORECASE,
)


def tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in listing.decode().split("\0") if name]


def test_no_tracked_file_points_outside_the_repository():
    offenders = []
    for path in tracked_files():
        if not path.is_file():  # this file too: it builds its patterns from parts
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # images and other binary files
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    assert offenders == [], "cite docs/contract.md instead:\n" + "\n".join(offenders)


def test_the_contract_is_in_the_repository_and_cited():
    contract = ROOT / "docs" / "contract.md"
    text = contract.read_text(encoding="utf-8")
    for heading in ("## 3. What is counted", "## 4. Memory traffic", "## 5. Energy", "## 7. The output schema",
                    "## 8. Interfaces", "## 10. Decisions"):  # fmt: skip
        assert heading in text
    citing = [p for p in tracked_files() if p.suffix in (".py", ".md") and "contract.md" in p.read_text("utf-8")]
    assert len(citing) >= 10  # the code and docs that used to cite an outside document now cite this one


def test_the_pattern_catches_what_it_should():
    for bad in ("see " + _DOC, ".." + "/" + _FOLDER + _DOC, "`" + _FOLDER + "research/x.md`", "(" + _SECTION + "1)"):
        assert OUTSIDE.search(bad), bad
    for fine in ("docs/contract.md §4", "shared weights", "a shared Linear", "redesign"):
        assert not OUTSIDE.search(fine), fine
