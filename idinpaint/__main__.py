import sys

from idinpaint.cli import main

sys.exit(main())
