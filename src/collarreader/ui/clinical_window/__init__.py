"""The study lead's window for Oxford scores and adverse events (``collarreader clinical edit``).

Two tabs, each a table beside an editor form:

* **Oxford scores** — one row per patient and instrument, the 6-month and 12-month totals
  with their bands and the change. Clicking a time point opens that questionnaire in the form
  (or starts it, with patient, instrument and time point filled in). The form shows the
  computed total and band live while the twelve answers are chosen.
* **Adverse events** — every event; the form offers the vocabularies as combo boxes.

Fields are checked as they are typed: a problem outlines the field in red and is listed under
the form; Save stays disabled until the form is valid. Saving a new record is an audited
insert. Saving a change to a recorded one first asks for a reason (:class:`ReasonDialog`,
window-modal, non-blocking) and is audited with it. Warnings and results go to the status bar,
never to a blocking message box. The store functions do the writing; nothing here touches
the database directly.

Only study patient IDs (pseudonyms) are shown; the window holds no other identity.

Modules
-------
:mod:`~collarreader.ui.clinical_window.fields`
    Labels, colours, the style sheet and field helpers the forms share.
:mod:`~collarreader.ui.clinical_window.form_base`
    :class:`~collarreader.ui.clinical_window.form_base.ClinicalForm`, what both editors share.
:mod:`~collarreader.ui.clinical_window.reason_dialog`
    :class:`ReasonDialog`.
:mod:`~collarreader.ui.clinical_window.oxford_form`
    :class:`OxfordForm`.
:mod:`~collarreader.ui.clinical_window.ae_form`
    :class:`AdverseEventForm`.
:mod:`~collarreader.ui.clinical_window.window`
    :class:`ClinicalWindow` and :func:`run_clinical_window`.
"""

from __future__ import annotations

from collarreader.ui.clinical_window.ae_form import AdverseEventForm
from collarreader.ui.clinical_window.oxford_form import OxfordForm
from collarreader.ui.clinical_window.reason_dialog import ReasonDialog
from collarreader.ui.clinical_window.window import ClinicalWindow, run_clinical_window

__all__ = [
    "AdverseEventForm",
    "ClinicalWindow",
    "OxfordForm",
    "ReasonDialog",
    "run_clinical_window",
]
