"""Data: :mod:`.synthetic` generators for the theory chapters, :mod:`.images` loaders for the image chapters, and
:mod:`.catalog`, the names, shapes and split sizes of the image datasets."""
