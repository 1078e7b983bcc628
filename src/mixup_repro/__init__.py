"""mixup-repro: the reproducible companion to Zhang et al., "How Does Mixup Help With Robustness and
Generalization?" (ICLR 2021, arXiv 2010.04819)."""

__version__ = "0.1.0"
