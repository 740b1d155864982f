"""`python -m kefu.cli ...`: the kefu command, as a module."""

import sys

from kefu.cli import main

sys.exit(main())
