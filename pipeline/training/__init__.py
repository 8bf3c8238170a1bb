"""Training and evaluation shared by every task: one loop (:mod:`.loop`), one evaluator (:mod:`.evaluate`).

A task supplies only its data and model config: :mod:`.audio` (labelled clips → a word classifier),
:mod:`.gesture` (event gestures → a gesture classifier).
"""
