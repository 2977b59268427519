"""A two-line shim, so that ``python -m rqvae`` and ``torchrun ... -m rqvae -- <command>`` work.

The command line lives in :mod:`cli` (the ``rqvae`` console entry, ``cli.main:main``), which sits
above :mod:`rqvae` and :mod:`analysis`. Python runs this file only as a script and nothing imports
it, so no module of the package depends on its command line; the arrow still points down.
"""

from cli.main import module_entry

module_entry()
