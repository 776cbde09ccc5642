"""Results: the SQLite store, the records reports read back from it, and the writer of output folders.

May import reports and core; never torch, the run layer or anything above it.
"""
