"""lamina compute on Dask: each task a Dask future (see ``docs/compute/dask.md``)."""
