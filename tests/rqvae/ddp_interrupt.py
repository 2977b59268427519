"""Run ``rqvae train`` under torchrun and kill it on rank 0 after epoch 3 has been logged, the way
a preempted job dies (the other rank is then stopped by torchrun). Used by test_distributed."""

import sys

from cli.main import main
from rqvae.training.metrics_log import Metrics

original_append = Metrics.append


def append_then_die(self, record):
    original_append(self, record)
    if record["epoch"] == 3:
        raise KeyboardInterrupt


Metrics.append = append_then_die
sys.argv = ["rqvae", *sys.argv[1:]]
main()
