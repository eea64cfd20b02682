"""Flash and RAM of a firmware image from its ELF sections (pyelftools).

Classified as Berkeley-format ``size`` does: allocated read-only sections are
text (code, constants, the embedded model), allocated writable ones with
contents are data (in flash, copied to RAM at boot), allocated ones without
contents are bss (zeroed RAM: arena, buffers, reserved stack).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from harness.errors import BoardError


@dataclass(frozen=True)
class ElfSizes:
    text: int
    data: int
    bss: int

    @property
    def flash_bytes(self) -> int:
        return self.text + self.data

    @property
    def ram_bytes(self) -> int:
        return self.data + self.bss


def elf_sizes(path: Path) -> ElfSizes:
    text = data = bss = 0
    try:
        with path.open("rb") as f:
            for section in ELFFile(f).iter_sections():
                flags = section["sh_flags"]
                if not flags & SH_FLAGS.SHF_ALLOC:
                    continue
                size = section["sh_size"]
                if section["sh_type"] == "SHT_NOBITS":
                    bss += size
                elif flags & SH_FLAGS.SHF_WRITE:
                    data += size
                else:
                    text += size
    except (OSError, ELFError) as exc:
        raise BoardError(f"{path}: cannot read it as an ELF image: {exc}") from exc
    return ElfSizes(text, data, bss)
