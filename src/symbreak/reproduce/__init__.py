"""``symbreak reproduce``: the paper's data sets simulated, analysed over several seeds and
compared with the published numbers.

* :mod:`~symbreak.reproduce.run.run`: one set after another, staged and swapped in whole;
* :mod:`~symbreak.reproduce.run.found`: what each map found (rows of the found table);
* :mod:`~symbreak.reproduce.ideal`: each defect's ideal-observer significance and each
  symmetry score's dose efficiency (runs at a dose);
* :mod:`~symbreak.reproduce.run.summary`: the tables of ``reproduce.md``.
"""
