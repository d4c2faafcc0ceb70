"""How symbreak puts bytes on disk without losing anything the user wrote.

* :mod:`~symbreak.storage.ownership`: the proof that a folder is symbreak's own output;
* :mod:`~symbreak.storage.safe_output`: the checks before anything is written or replaced,
  and the atomic exchange of a finished output with the old one;
* :mod:`~symbreak.storage.atomic`: outputs built in a hidden folder and swapped in whole,
  and resumable partial outputs;
* :mod:`~symbreak.storage.lock`: one writer per output;
* :mod:`~symbreak.storage.paths`: paths as symbreak prints and compares them;
* :mod:`~symbreak.storage.zarr_compat`: zarr-python 2 and 3 behind one small API.

This layer imports nothing above :mod:`symbreak.errors`: the engine and every reader and
writer build on it.
"""
