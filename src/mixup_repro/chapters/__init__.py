"""One module per notebook: its ``run`` (the one library call of the notebook), claims, hooks and book values.

``lemma31_fig2``, ``thm31_logistic``, ``thm32_relu``, ``fig1a_fgsm``, ``glm_regularization``, ``rademacher``,
``generalization_gap`` and ``fig3_training_error`` are named like their notebooks. Each exposes
``run(cfg, *, progress=True, save=True, use_cache=False) -> Result`` (see :func:`mixup_repro.runs.notebook_run`),
the ``claims`` its verdicts come from, and ``book_values(result)``, the values the book's theory pages glue.
What two chapters share lives in ``_chain`` (the theorem chains) and ``_images`` (the image runs).
"""
