"""collarreader.clinical."""
