"""The bottom layer: errors, the generic registry, hyperparameter validation, progress bars, shared enums.

Imports nothing of the suite; every other room may import it. No torch.
"""
