"""collarreader.db."""
