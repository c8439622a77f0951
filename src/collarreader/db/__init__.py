"""collarreader.db."""

from collarreader.db import clinical_models as clinical_models  # registers the clinical tables
