import sys

from robustness.cli import main

sys.exit(main())
