"""``radviewer batch``: one model over every applicable series under a folder tree.

Qt-free. :mod:`.jobs` finds the series, :mod:`.state` keeps the resumable record,
:mod:`.worker` analyses one series in a worker process, :mod:`.engine` runs the workers on a
local process pool or a Dask distributed cluster, :mod:`.summary` writes the table.
"""
