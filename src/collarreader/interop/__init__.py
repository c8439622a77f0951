"""Exchange with the hospital's systems: DICOM SR and presentation states out, PACS images in.

- :mod:`collarreader.interop.codes` — the coded concepts (SNOMED CT, DCM, UCUM and the local
  ``99COLLAR`` scheme) the SR and presentation states use;
- :mod:`collarreader.interop.sr` — TID 1500 Measurement Reports, one per reading (highdicom);
- :mod:`collarreader.interop.gsps` — Grayscale Softcopy Presentation States, one per marked
  image of a reading (highdicom);
- :mod:`collarreader.interop.pull` — retrieve a manifest's images from a PACS over DICOMweb
  (WADO-RS, dicomweb-client) into a folder ``prepare`` can read.

No Qt here; the database is read through :mod:`collarreader.interop.readings`.
"""
