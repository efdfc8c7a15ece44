"""``python -m microgradnp``: the command line (see ``microgradnp.cli``)."""

import sys

from microgradnp.cli import main

sys.exit(main())
