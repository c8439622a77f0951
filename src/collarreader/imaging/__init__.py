"""collarreader.imaging."""
