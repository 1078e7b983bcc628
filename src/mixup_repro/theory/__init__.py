"""The paper's bound quantities: :mod:`.robustness` (Theorems 3.1, 3.2), :mod:`.generalization` (GLMs, Rademacher)."""
