"""Event files: one reader per format on :class:`~.recording.EventRecording`, the format dispatcher
(:func:`~.dispatch.open_recording`, :func:`~.dispatch.detect_format`) apart from it, and writers.
"""
