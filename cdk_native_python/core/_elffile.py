"""A reader for the few ELF headers verification needs, by named fields (after ``packaging/_elffile.py``).

Only 64-bit little-endian files are parsed further than the identification bytes (every Lambda target
is one). Every offset and size comes from the file itself, so each is checked against the file's size
before anything is read: a damaged or hostile file is an :class:`ELFError`, never a huge allocation.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

#: e_machine values (ELF spec) and names for the ones we may meet
MACHINES = {3: "i386", 8: "mips", 20: "ppc", 21: "ppc64", 22: "s390x", 40: "arm", 62: "x86_64", 183: "aarch64",
            243: "riscv64"}
ELFCLASS64 = 2
ELFDATA2LSB = 1
SHT_GNU_VERNEED = 0x6FFFFFFE
#: no section we read is legitimately larger than this
_MAX_SECTION = 64 << 20


class ELFError(ValueError):
    """Not an ELF file, or one whose headers point outside it."""


class Header(NamedTuple):
    ei_class: int
    ei_data: int
    e_machine: int
    e_shoff: int
    e_shentsize: int
    e_shnum: int

    @property
    def machine(self) -> str:
        return MACHINES.get(self.e_machine, "unknown")

    @property
    def is_64_lsb(self) -> bool:
        return self.ei_class == ELFCLASS64 and self.ei_data == ELFDATA2LSB


class SectionHeader(NamedTuple):
    sh_name: int
    sh_type: int
    sh_flags: int
    sh_addr: int
    sh_offset: int
    sh_size: int
    sh_link: int
    sh_info: int
    sh_addralign: int
    sh_entsize: int


class Verneed(NamedTuple):
    vn_version: int
    vn_cnt: int
    vn_file: int
    vn_aux: int
    vn_next: int


class Vernaux(NamedTuple):
    vna_hash: int
    vna_flags: int
    vna_other: int
    vna_name: int
    vna_next: int


_SECTION = struct.Struct("<IIQQQQIIQQ")
_VERNEED = struct.Struct("<HHIII")
_VERNAUX = struct.Struct("<IHHII")


class ELFFile:
    """The headers of one open ELF file."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._size = os.fstat(f.fileno()).st_size
        ident = self._read(0, 64, "ELF header")
        if ident[:4] != b"\x7fELF":
            raise ELFError("not an ELF file")
        e_machine = struct.unpack_from("<H", ident, 18)[0]
        e_shoff = struct.unpack_from("<Q", ident, 40)[0]
        e_shentsize, e_shnum = struct.unpack_from("<HH", ident, 58)
        self.header = Header(ident[4], ident[5], e_machine, e_shoff, e_shentsize, e_shnum)

    def _read(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or size < 0 or offset + size > self._size or size > _MAX_SECTION:
            raise ELFError(f"its {what} ({size} bytes at {offset}) lies outside the file ({self._size} bytes)")
        self._f.seek(offset)
        data = self._f.read(size)
        if len(data) != size:
            raise ELFError(f"its {what} is cut short")
        return data

    def sections(self) -> list[SectionHeader]:
        h = self.header
        if not h.is_64_lsb or not h.e_shoff or h.e_shnum == 0 or h.e_shentsize != _SECTION.size:
            return []
        table = self._read(h.e_shoff, h.e_shnum * _SECTION.size, "section table")
        return [SectionHeader._make(_SECTION.unpack_from(table, i * _SECTION.size)) for i in range(h.e_shnum)]

    def section_data(self, section: SectionHeader, what: str) -> bytes:
        return self._read(section.sh_offset, section.sh_size, what)

    def version_needs(self) -> Iterator[tuple[str, str]]:
        """``(library, version)`` for every symbol version the file needs (``.gnu.version_r``)."""
        sections = self.sections()
        for sec in sections:
            if sec.sh_type != SHT_GNU_VERNEED or sec.sh_link >= len(sections):
                continue
            data = self.section_data(sec, ".gnu.version_r")
            strtab = self.section_data(sections[sec.sh_link], "string table of .gnu.version_r")
            pos = 0
            for _ in range(sec.sh_info or 1_000):  # sh_info: the number of Verneed entries
                if pos + _VERNEED.size > len(data):
                    break
                need = Verneed._make(_VERNEED.unpack_from(data, pos))
                library = _string(strtab, need.vn_file)
                apos = pos + need.vn_aux
                for _ in range(need.vn_cnt):
                    if apos + _VERNAUX.size > len(data):
                        break
                    aux = Vernaux._make(_VERNAUX.unpack_from(data, apos))
                    yield library, _string(strtab, aux.vna_name)
                    if not aux.vna_next:
                        break
                    apos += aux.vna_next
                if not need.vn_next:
                    break
                pos += need.vn_next


def _string(strtab: bytes, offset: int) -> str:
    end = strtab.find(b"\0", offset)
    return strtab[offset:end if end >= 0 else None].decode("ascii", "replace")
