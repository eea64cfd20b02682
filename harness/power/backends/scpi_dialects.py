"""The SCPI dialect of each supported instrument, in one table.

Each entry is the sequence of command templates the generic SCPI monitor
(`scpi.py`) sends; the fields a template may use are listed in
`ScpiMonitor._fields` (``ch``, ``interval``, ``rate``, ``points``, ``range``,
``volts``, ``ilimit``, ``nplc``, ``buffer``, ``start``, ``end``, ``max_s``).

Sources (the vendors' programming references, read through public copies):
Keysight N6705C Operating and Service Guide ch. 7 (SENSe:SWEep:POINts/TINTerval,
TRIGger:ACQuire, FETCh:ARRay:CURRent?, FORMat REAL = IEEE single precision with
FORMat:BORDer NORMal = big-endian); Keithley 2450 and DMM6500 reference manuals
(TRACe:POINts/CLEar/ACTual?/DATA?, TRIGger:LOAD "DurationLoop"/"SimpleLoop",
DIGitize:FUNCtion "CURR", DIGitize:CURRent:SRATe, FORMat:DATA REAL = IEEE double).
Nothing here has been run against the instruments themselves, only against the
loopback emulation in tests/instruments/scpi_server.py (docs/energy.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScpiDialect:
    backend: str                       # the bench file's backend name
    model: str                         # for messages and the trace's identity
    idn_pattern: str                   # regex that *IDN? must match (case-insensitive)
    max_rate: float                    # samples/s
    max_points: int                    # acquisition buffer, samples
    setup: tuple[str, ...]             # configure(): function, rate, buffer, data format
    range_fixed: tuple[str, ...]       # configure() with a current range
    range_auto: tuple[str, ...]        # configure() without one
    source: tuple[str, ...] = ()       # configure() with a supply voltage (empty: cannot source)
    output_on: tuple[str, ...] = ()    # configure() after source, and set_output(True)
    output_off: tuple[str, ...] = ()   # set_output(False)
    marker_setup: tuple[str, ...] = ()  # when the marker input is used
    arm: tuple[str, ...] = ()          # start(); the last one starts the acquisition
    stop: tuple[str, ...] = ()         # stop()
    rate_query: str | None = None      # the rate the instrument actually uses
    rate_query_is_interval: bool = False
    count_query: str | None = None     # readings stored (None: ``points`` once complete)
    wait_complete: bool = False        # read() waits for *OPC? (the capture is fixed-length)
    fetch_current: str = ""            # binary block of readings (and timestamps)
    fetch_marker: str | None = None    # binary block of the marker input, same length
    fetch_block: int | None = None     # readings per fetch (None: all at once)
    elements: int = 1                  # values per reading in a fetched block
    timestamped: bool = False          # element 2 is a relative timestamp (s): the time base
    datatype: str = "d"                # struct code of one binary value
    big_endian: bool = False
    default_range_a: float | None = None  # a range the instrument needs (no autorange)
    line_frequency_query: str | None = None


N6705C = ScpiDialect(
    backend="scpi-n6705c",
    model="Keysight N6705C + N6781A (digitizer)",
    idn_pattern=r"^(Keysight|Agilent) Technologies,N6705[BC],",
    max_rate=1 / 20.48e-6,  # TINT below 20.48 us needs the RES20 setting: not used here
    max_points=512 * 1024,
    setup=("SENS:FUNC:CURR ON,(@{ch})",
           "SENS:SWE:TINT {interval:.9g},(@{ch})",
           "SENS:SWE:POIN {points},(@{ch})",
           "SENS:SWE:OFFS:POIN 0,(@{ch})",
           "TRIG:ACQ:SOUR BUS,(@{ch})",
           "FORM REAL",
           "FORM:BORD NORM"),
    range_fixed=("SENS:CURR:RANG {range:.6g},(@{ch})",),
    range_auto=("SENS:CURR:RANG:AUTO ON,(@{ch})",),
    source=("VOLT {volts:.6g},(@{ch})",),
    output_on=("OUTP ON,(@{ch})",),
    output_off=("OUTP OFF,(@{ch})",),
    # the N6781A's auxiliary voltage input, sampled with the current, carries the marker
    marker_setup=("SENS:FUNC:VOLT ON,(@{ch})", "SENS:FUNC:VOLT:INP AUX,(@{ch})"),
    arm=("INIT:ACQ (@{ch})", "TRIG:ACQ (@{ch})"),
    rate_query="SENS:SWE:TINT? (@{ch})",
    rate_query_is_interval=True,
    wait_complete=True,
    fetch_current="FETC:ARR:CURR? (@{ch})",
    fetch_marker="FETC:ARR:VOLT? (@{ch})",
    datatype="f",
    big_endian=True,
)

KEITHLEY_2450 = ScpiDialect(
    backend="scpi-keithley2450",
    model="Keithley 2450 SourceMeter (buffered readings)",
    idn_pattern=r"^KEITHLEY INSTRUMENTS,MODEL 2450,",
    max_rate=3_000.0,  # at NPLC 0.01 with autozero off, roughly
    max_points=1_000_000,
    setup=('SENS:FUNC "CURR"',
           "SENS:CURR:NPLC {nplc:.4g}",
           "SENS:CURR:AZER OFF",
           'TRAC:POIN {points}, "{buffer}"',
           "FORM:DATA REAL",
           "FORM:BORD SWAP"),
    range_fixed=("SENS:CURR:RANG {range:.6g}",),
    range_auto=("SENS:CURR:RANG:AUTO ON",),
    source=("SOUR:FUNC VOLT", "SOUR:VOLT {volts:.6g}", "SOUR:VOLT:ILIM {ilimit:.6g}"),
    output_on=("OUTP ON",),
    output_off=("OUTP OFF",),
    arm=('TRAC:CLE "{buffer}"', 'TRIG:LOAD "DurationLoop", {max_s:.6g}, 0, "{buffer}"',
         "INIT"),
    stop=("ABOR",),
    count_query='TRAC:ACT? "{buffer}"',
    fetch_current='TRAC:DATA? {start}, {end}, "{buffer}", READ, REL',
    fetch_block=50_000,
    elements=2,
    timestamped=True,  # the reading rate follows NPLC and overhead: take it from the clock
    line_frequency_query="SYST:LFR?",
)

DMM6500 = ScpiDialect(
    backend="scpi-dmm6500",
    model="Keithley DMM6500 (digitize current)",
    idn_pattern=r"^KEITHLEY INSTRUMENTS,MODEL DMM6500,",
    max_rate=1_000_000.0,
    max_points=7_000_000,
    setup=('DIG:FUNC "CURR"',
           "DIG:CURR:SRAT {rate:.9g}",
           "DIG:CURR:APER AUTO",
           "DIG:COUN 1",
           'TRAC:POIN {points}, "{buffer}"',
           "FORM:DATA REAL",
           "FORM:BORD SWAP"),
    range_fixed=("DIG:CURR:RANG {range:.6g}",),
    range_auto=("DIG:CURR:RANG {range:.6g}",),  # digitizing has no autorange
    arm=('TRAC:CLE "{buffer}"', 'TRIG:LOAD "SimpleLoop", {points}, 0, "{buffer}"', "INIT"),
    stop=("ABOR",),
    rate_query="DIG:CURR:SRAT?",
    count_query='TRAC:ACT? "{buffer}"',
    fetch_current='TRAC:DATA? {start}, {end}, "{buffer}", READ',
    fetch_block=500_000,
    default_range_a=0.1,
)

DIALECTS: dict[str, ScpiDialect] = {d.backend: d for d in (N6705C, KEITHLEY_2450, DMM6500)}
