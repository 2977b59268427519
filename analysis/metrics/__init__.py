"""Pure metrics over arrays: numpy, pandas, scipy and scikit-learn, no files and no plots.

Each module is one diagnostic; its docstrings give every definition exactly, with units. The
math of a code table itself (counts, prefix groups, uniqueness, entropy) is
:mod:`rqvae.id_metrics`, shared with the trainer, and the residual chain is
:mod:`rqvae.quantizers.base`.
"""
