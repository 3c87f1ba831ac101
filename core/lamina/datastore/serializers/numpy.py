"""numpy arrays as ``.npy`` files: streamed from the array's own buffer, memory-mapped back.

Loading returns a read-only :class:`numpy.memmap`: nothing is read until used, and many
tasks reading the same artifact share the operating system's page cache.
"""

from __future__ import annotations

from typing import IO, Any


def _is_plain_array(value: Any) -> bool:
    cls = type(value)
    if cls.__module__ != "numpy" or cls.__name__ not in ("ndarray", "memmap"):
        return False
    return not value.dtype.hasobject


class NumpySerializer:
    """``numpy.ndarray`` (and ``numpy.memmap``) without Python objects inside."""

    name = "numpy.npy"
    priority = 100

    def handles(self, value: Any) -> bool:
        return _is_plain_array(value)

    def dump(self, value: Any, file: IO[bytes]) -> dict[str, Any]:
        import numpy as np
        from numpy.lib import format as npy

        array = value
        if not (array.flags.c_contiguous or array.flags.f_contiguous):
            array = np.ascontiguousarray(array)  # a strided view: one copy is unavoidable
        header = npy.header_data_from_array_1_0(array)
        try:
            npy.write_array_header_1_0(file, header)
        except ValueError:  # header too long for format 1.0 (very many fields)
            npy.write_array_header_2_0(file, header)
        # ``header`` says fortran_order when the array is F- but not C-contiguous; either
        # way the memory is already in the order the header announces: write it as is.
        order = "F" if header["fortran_order"] else "C"
        flat = array.reshape(-1, order=order)
        if flat.size:
            file.write(memoryview(flat.view(np.uint8)))
        return {"shape": list(array.shape), "dtype": array.dtype.str, "order": order}

    def dump_buffers(self, value: Any) -> tuple[list[memoryview], dict[str, Any]] | None:
        """The ``.npy`` header and the array's own memory, byte for byte what :meth:`dump`
        writes; None for a strided view (``dump`` copies it)."""
        import io

        from numpy.lib import format as npy

        array = value
        if not (array.flags.c_contiguous or array.flags.f_contiguous):
            return None
        header = npy.header_data_from_array_1_0(array)
        head = io.BytesIO()
        try:
            npy.write_array_header_1_0(head, header)
        except ValueError:  # header too long for format 1.0 (very many fields)
            npy.write_array_header_2_0(head, header)
        order = "F" if header["fortran_order"] else "C"
        buffers = [memoryview(head.getvalue())]
        if array.size:
            flat = array.reshape(-1, order=order)  # a view: the memory is in this order
            buffers.append(memoryview(flat.view("u1")))
        return buffers, {"shape": list(array.shape), "dtype": array.dtype.str, "order": order}

    def load(self, path: str) -> Any:
        import numpy as np

        return np.load(path, mmap_mode="r", allow_pickle=False)
