"""Type stub of the compiled FNV-1a 64 extension (plugins/manifest/_fnv.c)."""

from typing_extensions import Buffer

def fnv1a64(data: Buffer, h: int = 0xCBF29CE484222325, /) -> int: ...
