"""A flow that takes a file: ``data`` is a path on the launching machine, stored at launch."""

import os
from typing import Annotated

from lamina import File, Flow

flow = Flow("file-input")


@flow.step
def size(data: Annotated[File, "the table to read"]) -> int:
    return len(data.read_bytes())


@flow.step
def check(size: int, data: File, flag: str = "broken.flag") -> dict:
    if os.path.exists(flag):
        raise ValueError("broken")
    return {"size": size, "bytes": data.read_bytes(), "name": data.name, "hash": data.hash,
            "suffix": data.path.suffix, "text": data.read_text()}
