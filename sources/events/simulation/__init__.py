"""Simulation and datasets: the DVS pixel simulator, synthetic gestures, training examples, and the
DVS128 Gesture dataset folder and labels.
"""
