"""Resuming from a checkpoint also restores the learning-rate schedule (cosine annealing)."""

from __future__ import annotations

import torch

from mixup_repro.checkpoint import CheckpointOptions
from mixup_repro.models import build_model
from mixup_repro.train import fit


def test_resume_restores_the_cosine_schedule(tmp_path):
    g = torch.Generator().manual_seed(3)
    y = (torch.arange(40) % 2).double()
    X = torch.randn(40, 3, generator=g, dtype=torch.float64) + y[:, None]
    full = build_model("tanh_mlp", 3, hidden=8, generator=torch.Generator().manual_seed(4))
    fit(full, X, y, alpha=1.0, lr=0.3, seed=7, batch_size=10, lr_schedule="cosine", progress=False, epochs=12)
    # The same run interrupted (by an exception from a hook) after its epoch-4 checkpoint, then rerun.
    path = tmp_path / "ckpt.pt"

    class Stop(Exception):
        pass

    def stop_after_5(epoch, model):
        if epoch == 5:
            raise Stop

    model = build_model("tanh_mlp", 3, hidden=8, generator=torch.Generator().manual_seed(4))
    try:
        fit(model, X, y, alpha=1.0, lr=0.3, seed=7, batch_size=10, lr_schedule="cosine", progress=False,
            checkpoint=CheckpointOptions(path, every=1), epochs=12, hooks=[stop_after_5])
    except Stop:
        pass
    assert path.exists()
    resumed = build_model("tanh_mlp", 3, hidden=8, generator=torch.Generator().manual_seed(4))
    hist = fit(resumed, X, y, alpha=1.0, lr=0.3, seed=7, batch_size=10, lr_schedule="cosine", progress=False,
               checkpoint=CheckpointOptions(path, every=1), epochs=12)
    assert hist.resumed_from >= 4
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
