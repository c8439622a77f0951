"""The agreement report: one self-contained ``report.html`` plus CSV tables.

``report.html`` has no external reference of any kind — inline CSS, no script, PNG figures as
``data:`` URIs — so it can be mailed, archived with the study and opened offline years later.
Its order follows what a study lead asks first:

1. a summary (readers, cases, repeat reads, readings left out; how many fields fall in each
   interpretation band);
2. **where readers disagree**: the fields in poor bands, then the disagreement list naming the
   case codes to send to adjudication;
3. per field: n, value, 95 % CI and a coloured band beside each figure, agreement by zone, and
   Bland–Altman plots for continuous fields;
4. intra-observer agreement per reader;
5. the 6 m → 12 m change per patient (after unblinding), sections added by the caller (e.g.
   Oxford scores, adverse events), and the methods with their references.

The CSV files (``agreement_inter.csv``, ``agreement_intra.csv``, ``bland_altman.csv``,
``disagreements.csv``, ``longitudinal.csv``) hold every row, including those the HTML folds
away, for the statistician.

Modules
-------
:mod:`~collarreader.analysis.report.writing`
    :func:`write_report`: the files, all or nothing.
:mod:`~collarreader.analysis.report.sections`
    The sections of ``report.html`` and the shaping of their tables.
:mod:`~collarreader.analysis.report.figures`
    The figures, drawn together (in forked workers when that is safe).
:mod:`~collarreader.analysis.report.html`
    Style sheet and small HTML pieces (:func:`html_table`).
"""

from __future__ import annotations

from collarreader.analysis.report.figures import _Figures as _Figures  # for the tests
from collarreader.analysis.report.figures import _fork_is_safe as _fork_is_safe  # for the tests
from collarreader.analysis.report.html import _CSS as _CSS  # for the tests
from collarreader.analysis.report.html import html_table
from collarreader.analysis.report.writing import REPORT_FILES, write_report

__all__ = ["REPORT_FILES", "html_table", "write_report"]
