"""Reports for people and pipelines: a self-contained HTML page, a LaTeX table and a methods paragraph,
each built only from a :class:`syops.Report` (``Report.to_html()``, ``.to_latex()``, ``.methods()``)."""

from .html import report_html
from .latex import report_latex
from .methods import methods_paragraph

__all__ = ["methods_paragraph", "report_html", "report_latex"]
