"""Reading files from elsewhere without trusting them.

* :mod:`~symbreak.io.guards.untrusted`: zip, HDF5 and header checks before anything is
  read or allocated (decompression bounded by the memory budget);
* :mod:`~symbreak.io.guards.failures`: low-level read failures as one-line FormatErrors;
* :mod:`~symbreak.io.guards.blosc`: blosc frames checked before they are decompressed;
* :mod:`~symbreak.io.guards.chunks`: zarr chunks missing from a store found before reading.
"""
