"""collarreader.study."""
