"""collarreader.ui."""
