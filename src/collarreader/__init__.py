"""collarreader: blinded radiographic reading of porous collars on tumour-resection prostheses.

The core (everything outside :mod:`collarreader.ui`) is free of Qt. See the design in
``DESIGN.md`` and the package layout: ``imaging`` (DICOM to a calibrated radiograph),
``study`` (phantom, de-identification, reading sets), ``measure`` (geometry in pixels and
mm), ``db`` (reader and study databases), ``analysis`` (agreement), ``clinical`` (Oxford
scores, adverse events) and ``ui`` (the Qt workstation).
"""

__version__ = "0.1.0"
