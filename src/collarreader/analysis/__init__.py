"""collarreader.analysis."""
