"""Data: :mod:`.synthetic` generators for the theory chapters, :mod:`.images` for the image chapters."""
