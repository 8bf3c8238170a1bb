"""Event cameras: every event source and the event front end, in wings (sub-packages).

- ``formats/``: event files. One reader per format (AEDAT 4, Prophesee DAT/EVT2/EVT3, N-MNIST,
  AEDAT 3.1, ``.npy``/``.npz``) on the base class in ``formats/recording.py``; the dispatcher
  (``formats/dispatch.py``: ``detect_format``, ``open_recording``) apart from it; writers.
- ``live/``: live cameras: UDP / SPIF receivers and sender, aestream, the bounded event queue.
- ``front_end/``: events → spike steps: filters, binning (kernel, framing), the streaming front end.
- ``simulation/``: simulation and datasets: DVS pixel simulator, synthetic gestures, training
  examples, the DVS128 Gesture dataset folder and labels.

Beside the wings: ``event_array`` (the shared event type :data:`EVENT_DTYPE`, ``SensorSize``) and
``render`` (event frames to PNG / GIF). Nothing is imported here: import the modules themselves.
"""
