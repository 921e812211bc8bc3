"""`python -m summarize_experiment EXPERIMENT`: the same as `scripts/summarize.py`."""

import sys

from .command import main

sys.exit(main(prog="summarize-experiment"))
