"""``python -m rqvae`` (and ``torchrun ... -m rqvae -- <command>``): the ``rqvae`` command line.

torchrun's own parser claims any option that abbreviates one of its own (``--run`` would be
``--run-path``), so under torchrun the command goes after ``--``. Some Python versions pass
that ``--`` on to the script; it is dropped here.
"""

import sys

from cli.main import main

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--":
        del sys.argv[1]
    main()
