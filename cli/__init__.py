"""The ``rqvae`` command line: flags in, library calls out.

It sits above both packages: ``quantizer_commands`` drive :mod:`rqvae` (embed, train, assign,
lookup, import-ids, demo) and ``analysis_commands`` drive :mod:`analysis` (diagnose, report);
``main`` joins them into one group. Neither package imports this one.
"""
