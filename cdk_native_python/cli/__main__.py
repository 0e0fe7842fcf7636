"""``python -m cdk_native_python.cli``: the command line."""

import sys

from .main import main

sys.exit(main())
