"""The event front end: filters and binning (events → frames), and the streaming front end that
hands spike steps ``[T, 1, 2, H, W]`` to a model (``streaming``).
"""
