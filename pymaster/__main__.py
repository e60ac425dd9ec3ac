"""``python -m pymaster``: the same as the ``pymaster`` command."""
import sys

from .cli import main

sys.exit(main())
