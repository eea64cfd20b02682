"""MLPerf Tiny submission folders from a run's rule-mode records (docs/mlperf.md).

``runner_files.py`` writes what MLCommons' runner writes per test (results.txt,
results.json, log.txt, in its units: inf./sec., uJ/inf.), ``system_desc.py`` a
system description from a board definition, ``writer.py`` the folder tree the
submission checker walks and what may go into it.
"""
