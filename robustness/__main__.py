import sys

from robustness.cli.main import main

sys.exit(main())
