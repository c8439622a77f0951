"""``python -m collarreader`` runs the command line."""

import sys

from collarreader.cli import main

sys.exit(main())
