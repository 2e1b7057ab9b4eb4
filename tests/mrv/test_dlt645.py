"""DL/T 645-2007 frames: hand-built vectors per the standard, and every way a frame can be refused."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tanhui.mrv import dlt645
from tanhui.mrv.dlt645 import FrameError

ADDRESS = "123456789012"
# Worked by hand from the standard, not by the encoder:
# address 12 34 56 78 90 12 is sent lowest byte first: 12 90 78 56 34 12.
# DI 00 01 00 00 is sent lowest byte first (00 00 01 00), each byte +33H: 33 33 34 33.
# Read request: 68 | 12 90 78 56 34 12 | 68 | C=11 | L=04 | 33 33 34 33 | CS | 16, after four FEH wake-up bytes.
#   CS = 68+12+90+78+56+34+12+68+11+04+33+33+34+33 (hex) = 104+18+144+120+86+52+18+104+17+4+51+51+52+51
#      = 872 = 3*256 + 104, so CS = 104 = 68H.
REQUEST = bytes.fromhex("FE FE FE FE 68 12 90 78 56 34 12 68 11 04 33 33 34 33 68 16")
# Reply with 12345.67 kWh: XXXXXX.XX is BCD 01 23 45 67, sent lowest first 67 45 23 01, +33H: 9A 78 56 34.
#   CS = 646 (68 A0..A5 68, as above) + 91H (145) + 08 + 205 (DI) + 9AH+78H+56H+34H (154+120+86+52)
#      = 1416 = 5*256 + 136, so CS = 136 = 88H.
REPLY = bytes.fromhex("68 12 90 78 56 34 12 68 91 08 33 33 34 33 9A 78 56 34 88 16")
# Abnormal reply, ERR = 02H (no requested data), sent as 35H: CS = 646 + D1H (209) + 01 + 35H (53) = 909 -> 8DH.
ERROR_REPLY = bytes.fromhex("68 12 90 78 56 34 12 68 D1 01 35 8D 16")


def test_hand_built_vectors_match_the_encoder() -> None:
    assert dlt645.read_request(ADDRESS) == REQUEST
    assert dlt645.energy_reply(ADDRESS, Decimal("12345.67")) == REPLY
    assert dlt645.error_reply(ADDRESS, 0x02) == ERROR_REPLY


def test_a_hand_built_reply_decodes_to_the_meter_and_its_register() -> None:
    reading = dlt645.decode_energy_reply(REPLY)
    assert reading == dlt645.EnergyReading(ADDRESS, dlt645.FORWARD_ACTIVE_ENERGY, Decimal("12345.67"))


def test_wake_up_bytes_are_skipped_and_the_request_is_a_read_of_the_energy_register() -> None:
    frame = dlt645.decode_frame(REQUEST)
    assert (frame.address, frame.control, frame.data) == (ADDRESS, dlt645.READ, bytes([0x00, 0x00, 0x01, 0x00]))
    assert dlt645.decode_energy_reply(b"\xfe\xfe" + REPLY).kwh == Decimal("12345.67")


@pytest.mark.parametrize("kwh", ["0.00", "0.01", "999999.99", "123.4"])
def test_register_values_across_the_format_survive_a_round_trip(kwh: str) -> None:
    assert dlt645.decode_energy_reply(dlt645.energy_reply("000000000001", Decimal(kwh))).kwh == Decimal(kwh)


def _with_checksum(frame: bytes) -> bytes:
    """The frame with its CS recomputed, so only the deliberate fault remains."""
    return frame[:-2] + bytes([sum(frame[:-2]) & 0xFF]) + frame[-1:]


@pytest.mark.parametrize(("frame", "message"), [
    (REPLY[:-2] + b"\x89" + REPLY[-1:], r"bad checksum: CS is 89H, the bytes sum to 88H"),
    (b"\x67" + REPLY[1:], r"a frame starts 68H"),
    (_with_checksum(REPLY[:7] + b"\x00" + REPLY[8:]), r"a frame starts 68H"),
    (REPLY[:-1] + b"\x17", r"ends with 16H, this ends with 17H"),
    (REPLY[:-2], r"wrong length: L = 8 data bytes needs a 20-byte frame, this has 18"),
    (REPLY[:5], r"at least 12 bytes"),
    (ERROR_REPLY, r"meter 123456789012 replied with an error \(ERR 02H: no requested data\)"),
    (dlt645.read_request(ADDRESS), r"control code 11H is not a normal read reply \(91H\)"),
    (_with_checksum(REPLY[:8] + b"\xb1" + REPLY[9:]), r"control code B1H"),
    # Value 67 45 23 0A: the top byte 0AH is not BCD (sent as 3DH).
    (_with_checksum(REPLY[:17] + b"\x3d" + REPLY[18:]), r"the energy value 0A234567 is not BCD"),
    # Address byte A5 = 1AH is not BCD.
    (_with_checksum(REPLY[:6] + b"\x1a" + REPLY[7:]), r"the address 1A3456789012 is not BCD"),
    # DI 00 00 00 00 (combined active energy) instead of 00 01 00 00: DI2 sent as 33H instead of 34H.
    (_with_checksum(REPLY[:12] + b"\x33" + REPLY[13:]), r"data identifier 00000000 is not forward active total"),
    (dlt645.encode_frame(ADDRESS, dlt645.READ_REPLY, bytes([0, 0, 1, 0, 0x67, 0x45, 0x23])),
     r"an energy reply carries 8 data bytes \(DI and value\), this 7"),
], ids=["checksum", "first start", "second start", "end", "length", "short", "error reply", "request", "follow-up",
        "value bcd", "address bcd", "identifier", "value length"])
def test_frames_that_are_not_a_normal_energy_reply_are_refused_saying_why(frame: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        dlt645.decode_energy_reply(frame)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: dlt645.read_request("12345"), r"a meter address is 12 decimal digits"),
    (lambda: dlt645.energy_reply(ADDRESS, Decimal("1000000")), r"does not fit the XXXXXX\.XX register format"),
    (lambda: dlt645.energy_reply(ADDRESS, Decimal("1.005")), r"does not fit"),
    (lambda: dlt645.energy_reply(ADDRESS, Decimal("-1")), r"does not fit"),
    (lambda: dlt645.parse_hex("68 zz"), r"not hexadecimal"),
])
def test_the_encoder_refuses_what_the_standard_cannot_carry(call: object, message: str) -> None:
    with pytest.raises(FrameError, match=message):
        call()  # type: ignore[operator]


def test_hex_text_with_spaces_is_read_as_bytes() -> None:
    assert dlt645.parse_hex("fe 68 16\n") == b"\xfe\x68\x16"
