"""Serial numbers: the format round-trips, malformed ones are refused naming the fault, one canonical form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tanhui.registry.serials import FORMAT_VERSION, Serial, SerialError, format_serial, parse_serial

NUMBERS = st.integers(1, 10**15 - 1)  # up to 15 digits, no leading zeros


@st.composite
def serials(draw: st.DrawFn) -> Serial:
    first = draw(NUMBERS)
    return Serial(
        registry=draw(st.from_regex(r"[A-Z]{2,8}", fullmatch=True)),
        region=draw(st.from_regex(r"[A-Z][A-Z0-9]{1,11}", fullmatch=True)),
        credit_type=draw(st.from_regex(r"[A-Z][A-Z0-9]{1,9}", fullmatch=True)),
        project_id=draw(NUMBERS),
        vintage=draw(st.integers(1000, 2999)),
        issuance_id=draw(NUMBERS),
        first=first,
        last=draw(st.integers(first, 10**15 - 1)),
    )


def _format(serial: Serial) -> str:
    return format_serial(registry=serial.registry, region=serial.region, credit_type=serial.credit_type,
                         project_id=serial.project_id, vintage=serial.vintage, issuance_id=serial.issuance_id,
                         first=serial.first, last=serial.last)


@given(serials())
def test_format_then_parse_gives_back_every_part(serial: Serial) -> None:
    text = _format(serial)
    assert parse_serial(text) == serial
    assert str(parse_serial(text)) == text
    assert parse_serial(text).quantity == serial.last - serial.first + 1


@given(serials())
def test_every_block_of_an_issuance_shares_its_prefix(serial: Serial) -> None:
    text = _format(serial)
    assert text == f"{serial.prefix}.{serial.first}-{serial.last}"
    assert serial.prefix.startswith(f"{serial.registry}{FORMAT_VERSION}.")
    assert parse_serial(str(serial.with_range(1, 1))).prefix == serial.prefix


def test_the_documented_example() -> None:
    serial = parse_serial("TH1.SIP.PHCER.P42.V2024.I17.1-500000")
    assert (serial.registry, serial.version, serial.region, serial.credit_type) == ("TH", 1, "SIP", "PHCER")
    assert (serial.project_id, serial.vintage, serial.issuance_id) == (42, 2024, 17)
    assert (serial.first, serial.last) == (1, 500_000)
    assert serial.quantity == 500_000


def test_a_single_unit_reads_short_and_prints_canonically() -> None:
    serial = parse_serial("TH1.SIP.PHCER.P42.V2024.I17.250")
    assert (serial.first, serial.last, serial.quantity) == (250, 250, 1)
    assert str(serial) == "TH1.SIP.PHCER.P42.V2024.I17.250-250"


def test_surrounding_whitespace_is_not_part_of_the_serial() -> None:
    assert str(parse_serial("  TH1.SIP.PHCER.P42.V2024.I17.1-5\n")) == "TH1.SIP.PHCER.P42.V2024.I17.1-5"


GOOD = "TH1.SIP.PHCER.P42.V2024.I17.1-500"


@pytest.mark.parametrize(("text", "named"), [
    ("", "'' is not a serial: expected REGISTRY+VERSION first"),
    ("hello", "'hello' is not a serial"),
    ("th1.SIP.PHCER.P42.V2024.I17.1-500", "is not a serial: expected REGISTRY+VERSION first"),
    ("T1.SIP.PHCER.P42.V2024.I17.1-500", "is not a serial"),
    ("TH.SIP.PHCER.P42.V2024.I17.1-500", "is not a serial"),
    ("TH2.SIP.PHCER.P42.V2024.I17.1-500", "uses serial format version 2; this registry reads version 1"),
    ("TH01.SIP.PHCER.P42.V2024.I17.1-500", "the registry and version part 'TH01' is malformed"),
    ("TH1.SIP.PHCER.P42.V2024.1-500", "expected 7 dot-separated parts"),
    ("TH1.SIP.PHCER.P42.V2024.I17.1-500.", "found 8"),
    ("TH1.sip.PHCER.P42.V2024.I17.1-500", "the region part 'sip' is malformed"),
    ("TH1.S.PHCER.P42.V2024.I17.1-500", "the region part 'S' is malformed"),
    ("TH1.SIP.PH-CER.P42.V2024.I17.1-500", "the credit type part 'PH-CER' is malformed"),
    ("TH1.SIP.PHCER.42.V2024.I17.1-500", "the project (P…) part '42' is malformed"),
    ("TH1.SIP.PHCER.P042.V2024.I17.1-500", "the project (P…) part 'P042' is malformed"),
    ("TH1.SIP.PHCER.P0.V2024.I17.1-500", "the project (P…) part 'P0' is malformed"),
    ("TH1.SIP.PHCER.P42.V24.I17.1-500", "the vintage (V…) part 'V24' is malformed"),
    ("TH1.SIP.PHCER.P42.V3024.I17.1-500", "the vintage (V…) part 'V3024' is malformed"),
    ("TH1.SIP.PHCER.P42.2024.I17.1-500", "the vintage (V…) part '2024' is malformed"),
    ("TH1.SIP.PHCER.P42.V2024.I-17.1-500", "the issuance (I…) part 'I-17' is malformed"),
    ("TH1.SIP.PHCER.P42.V2024.I17.0-500", "the unit range (start-end) part '0-500' is malformed"),
    ("TH1.SIP.PHCER.P42.V2024.I17.01-500", "the unit range (start-end) part '01-500' is malformed"),
    ("TH1.SIP.PHCER.P42.V2024.I17.1-", "the unit range (start-end) part '1-' is malformed"),
    ("TH1.SIP.PHCER.P42.V2024.I17.-5", "the unit range (start-end) part '-5' is malformed"),
    ("TH1.SIP.PHCER.P42.V2024.I17.+5", "the unit range (start-end) part '+5' is malformed"),
    ("TH1.SIP.PHCER.P42.V2024.I17.1--5", "the unit range (start-end) part '1--5' is malformed"),
    ("TH1.SIP.PHCER.P42.V2024.I17.1-2.5", "found 8"),
    ("TH1.SIP.PHCER.P42.V2024.I17.1-1000000000000000", "the unit range (start-end) part"),
    ("TH1.SIP.PHCER.P42.V2024.I17.500-1", "range end 1 is before its start 500"),
])
def test_malformed_serials_are_refused_naming_the_fault(text: str, named: str) -> None:
    with pytest.raises(SerialError) as refused:
        parse_serial(text)
    assert named in str(refused.value)


@pytest.mark.parametrize("value", [None, 42, b"TH1.SIP.PHCER.P42.V2024.I17.1-500"])
def test_a_serial_must_be_text(value: object) -> None:
    with pytest.raises(SerialError, match="a serial must be a string"):
        parse_serial(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("part", "value"), [
    ("registry", "th"), ("registry", "T"), ("region", "sip"), ("credit_type", "P"), ("project_id", 0),
    ("vintage", 24), ("issuance_id", -1), ("first", 0), ("last", 0),
])
def test_formatting_refuses_a_part_that_breaks_the_grammar(part: str, value: object) -> None:
    parts = {"registry": "TH", "region": "SIP", "credit_type": "PHCER", "project_id": 42, "vintage": 2024,
             "issuance_id": 17, "first": 1, "last": 500, part: value}
    with pytest.raises(SerialError):
        format_serial(**parts)  # type: ignore[arg-type]


@given(st.text(max_size=60) | st.from_regex(r"[A-Z]{2}[0-9]\.[A-Z0-9.\-+]{0,40}", fullmatch=True))
def test_any_text_either_parses_to_its_canonical_form_or_is_refused(text: str) -> None:
    try:
        serial = parse_serial(text)
    except SerialError as refused:
        assert str(refused)  # the error always says something
        return
    # Whatever parses prints canonically and reads back the same.
    assert parse_serial(str(serial)) == serial
    assert str(serial) in (text.strip(), f"{text.strip()}-{serial.last}")


@given(serials(), st.sampled_from(["project", "issuance", "first", "last"]))
def test_a_leading_zero_in_any_number_is_refused(serial: Serial, padded: str) -> None:
    numbers = {"project": str(serial.project_id), "issuance": str(serial.issuance_id),
               "first": str(serial.first), "last": str(serial.last)}
    numbers[padded] = "0" + numbers[padded]
    text = (f"{serial.registry}1.{serial.region}.{serial.credit_type}.P{numbers['project']}.V{serial.vintage}"
            f".I{numbers['issuance']}.{numbers['first']}-{numbers['last']}")
    with pytest.raises(SerialError, match="malformed"):
        parse_serial(text)


def test_the_canonical_form_is_unique() -> None:
    assert str(parse_serial(GOOD)) == GOOD
    assert {str(parse_serial(t)) for t in (GOOD, f" {GOOD} ", GOOD.strip())} == {GOOD}
