"""Running an audit: config, plan (the only place cell keys are built), prepare, cells (evaluate and
commit), engine (local), distributed (Ray), sanity checks and report pictures.

May import attacks, defenses, corruptions, models, data, results, reports and core; never compare,
cli or api. Writes results to the store, never report files.
"""
