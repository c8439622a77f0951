"""collarreader.measure."""
