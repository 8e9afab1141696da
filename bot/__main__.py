"""`python -m bot` is `watchpost`."""

import sys

from bot.cli import main

sys.exit(main())
