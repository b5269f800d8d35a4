"""`python -m kaito.cli` runs the `kaito` command."""

import sys

from kaito.cli.main import main

sys.exit(main())
