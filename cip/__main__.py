import sys

from cip.cli import main

sys.exit(main())
