"""Compile LaTeX the way a paper would include syops' tables: a minimal article with booktabs that
\\input{}s each file, run through a TeX engine; the engine's log is returned for further checks."""

from __future__ import annotations

import subprocess
from pathlib import Path


def compile_tables(engine: str, directory: Path, tables: dict[str, str], preamble: str = "") -> str:
    """Write ``tables`` (file stem -> LaTeX) into ``directory``, compile a document that inputs them all
    and return its log; a failed run fails the calling test with the end of the engine's output."""
    for stem, text in tables.items():
        (directory / f"{stem}.tex").write_text(text, encoding="utf-8")
    inputs = "".join(f"\\input{{{stem}.tex}}\n" for stem in tables)
    (directory / "doc.tex").write_text(
        f"\\documentclass{{article}}\n\\usepackage{{booktabs}}\n{preamble}\\begin{{document}}\n{inputs}\\end{{document}}\n"
    )
    run = subprocess.run(
        [engine, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    return (directory / "doc.log").read_text(errors="replace")
