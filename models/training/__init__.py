"""The training recipe of the embedded default model (issue 15): models/train_codegen.py is its command."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import make_tiny_codegen as tiny  # noqa: E402,F401  (the architecture, its exporters and config writers)
