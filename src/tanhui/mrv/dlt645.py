"""DL/T 645-2007 meter frames: build and check them, and read the forward active energy register from a reply.

A frame is ``68H A0..A5 68H C L DATA CS 16H``, optionally preceded by ``FEH`` wake-up bytes: the address is six BCD
bytes, lowest first; every data byte is sent plus 33H; CS is the sum, modulo 256, of every byte from the first 68H
through the data.  Multi-byte fields (data identifiers, values) are sent lowest byte first.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

START = 0x68
END = 0x16
WAKE_UP = 0xFE
DATA_OFFSET = 0x33  # added to every data byte on the wire
# Control codes: D7 = reply, D6 = abnormal reply, D4..D0 = function (10001b: read data).
READ = 0x11
READ_REPLY = 0x91
READ_ERROR_REPLY = 0xD1
# Data identifier DI3 DI2 DI1 DI0 = 00 01 00 00: forward active energy, total of all tariffs, current.
FORWARD_ACTIVE_ENERGY = 0x00010000
# The register's format is XXXXXX.XX kWh: four BCD bytes, two decimals.
_ENERGY_SCALE = Decimal("0.01")
_ENERGY_BYTES = 4
_ADDRESS_BYTES = 6
_HEADER = 10  # 68H, six address bytes, 68H, C, L
_ERROR_BITS = {
    0x01: "other error",
    0x02: "no requested data",
    0x04: "password wrong or not authorised",
    0x08: "communication rate cannot be changed",
    0x10: "too many annual time zones",
    0x20: "too many daily time periods",
    0x40: "too many tariffs",
}


class FrameError(ValueError):
    """A byte string that is not the DL/T 645-2007 frame it should be; the message says why."""


@dataclass(frozen=True)
class Frame:
    """A checked frame: the meter address (12 digits), the control code, the data with 33H removed."""

    address: str
    control: int
    data: bytes


@dataclass(frozen=True)
class EnergyReading:
    """A meter's reply to a register read: its address, the data identifier, the register in kWh."""

    address: str
    data_identifier: int
    kwh: Decimal


def encode_frame(address: str, control: int, data: bytes = b"", *, wake_up: int = 0) -> bytes:
    """The frame carrying ``data`` (plain bytes; 33H is added here) from or to ``address``."""
    if not 0 <= control <= 0xFF:
        raise FrameError(f"control code {control} does not fit in a byte")
    if len(data) > 0xFF:
        raise FrameError(f"{len(data)} data bytes do not fit in one frame (at most 255)")
    body = (bytes([START]) + _encode_address(address) + bytes([START, control, len(data)])
            + bytes((b + DATA_OFFSET) & 0xFF for b in data))
    return bytes([WAKE_UP] * wake_up) + body + bytes([sum(body) & 0xFF, END])


def decode_frame(raw: bytes) -> Frame:
    """Check a frame's delimiters, length, checksum and address; its address, control code and plain data."""
    frame = raw.lstrip(bytes([WAKE_UP]))
    if len(frame) < _HEADER + 2:
        raise FrameError(f"a frame has at least {_HEADER + 2} bytes after the FEH wake-up bytes, this has {len(frame)}")
    if frame[0] != START or frame[7] != START:
        raise FrameError(f"a frame starts 68H, six address bytes, 68H; this starts {frame[:8].hex(' ').upper()}")
    length = frame[9]
    if len(frame) != _HEADER + length + 2:
        raise FrameError(f"wrong length: L = {length} data bytes needs a {_HEADER + length + 2}-byte frame, "
                         f"this has {len(frame)} bytes")
    if frame[-1] != END:
        raise FrameError(f"a frame ends with 16H, this ends with {frame[-1]:02X}H")
    checksum = sum(frame[:-2]) & 0xFF
    if frame[-2] != checksum:
        raise FrameError(f"bad checksum: CS is {frame[-2]:02X}H, the bytes sum to {checksum:02X}H")
    data = bytes((b - DATA_OFFSET) & 0xFF for b in frame[_HEADER:-2])
    return Frame(address=_decode_address(frame[1:7]), control=frame[8], data=data)


def read_request(address: str, data_identifier: int = FORWARD_ACTIVE_ENERGY, *, wake_up: int = 4) -> bytes:
    """The master's request to read one data item (by default the forward active energy register)."""
    return encode_frame(address, READ, _identifier_bytes(data_identifier), wake_up=wake_up)


def energy_reply(address: str, kwh: Decimal, data_identifier: int = FORWARD_ACTIVE_ENERGY) -> bytes:
    """A meter's normal reply carrying an energy register of 0 to 999999.99 kWh."""
    if not (Decimal(0) <= kwh < Decimal(10) ** 6) or kwh != kwh.quantize(_ENERGY_SCALE):
        raise FrameError(f"{kwh} kWh does not fit the XXXXXX.XX register format")
    digits = f"{int(kwh / _ENERGY_SCALE):0{2 * _ENERGY_BYTES}d}"
    value = bytes.fromhex(digits)[::-1]
    return encode_frame(address, READ_REPLY, _identifier_bytes(data_identifier) + value)


def error_reply(address: str, error: int) -> bytes:
    """A meter's abnormal reply to a read, with its error byte (see `_ERROR_BITS`)."""
    return encode_frame(address, READ_ERROR_REPLY, bytes([error]))


def decode_energy_reply(raw: bytes) -> EnergyReading:
    """The forward active energy register from a meter's normal reply; any other frame raises `FrameError`."""
    frame = decode_frame(raw)
    if frame.control == READ_ERROR_REPLY:
        error = frame.data[0] if frame.data else 0
        reasons = [text for bit, text in _ERROR_BITS.items() if error & bit] or ["no reason given"]
        raise FrameError(f"meter {frame.address} replied with an error (ERR {error:02X}H: {', '.join(reasons)})")
    if frame.control != READ_REPLY:
        raise FrameError(f"control code {frame.control:02X}H is not a normal read reply ({READ_REPLY:02X}H)")
    if len(frame.data) != 4 + _ENERGY_BYTES:
        raise FrameError(f"wrong length: an energy reply carries 8 data bytes (DI and value), this {len(frame.data)}")
    identifier = int.from_bytes(frame.data[:4], "little")
    if identifier != FORWARD_ACTIVE_ENERGY:
        raise FrameError(f"data identifier {identifier:08X} is not forward active total energy "
                         f"({FORWARD_ACTIVE_ENERGY:08X})")
    digits = frame.data[4:][::-1].hex()
    if not digits.isdigit():
        raise FrameError(f"the energy value {digits.upper()} is not BCD (a nibble above 9)")
    return EnergyReading(frame.address, identifier, Decimal(int(digits)) * _ENERGY_SCALE)


def parse_hex(text: str) -> bytes:
    """Bytes from hexadecimal text, spaces allowed (``"FE FE 68 12 …"``)."""
    try:
        return bytes.fromhex("".join(text.split()))
    except ValueError as exc:
        raise FrameError(f"not hexadecimal bytes: {text[:40]!r}") from exc


def _identifier_bytes(data_identifier: int) -> bytes:
    if not 0 <= data_identifier <= 0xFFFFFFFF:
        raise FrameError(f"data identifier {data_identifier} does not fit in four bytes")
    return data_identifier.to_bytes(4, "little")


def _encode_address(address: str) -> bytes:
    if len(address) != 2 * _ADDRESS_BYTES or not address.isdigit() or not address.isascii():
        raise FrameError(f"a meter address is 12 decimal digits, not {address!r}")
    return bytes.fromhex(address)[::-1]


def _decode_address(field: bytes) -> str:
    digits = field[::-1].hex()
    if not digits.isdigit():
        raise FrameError(f"the address {digits.upper()} is not BCD (a nibble above 9)")
    return digits
