"""``python -m plugin.cli`` runs the fvreplay command line."""

import sys

from plugin.cli import main

sys.exit(main())
