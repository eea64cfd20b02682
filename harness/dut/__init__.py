"""The DUT protocol (docs/protocol.md): framing, messages, transport, host session, device.

Import from the submodules; this package file only names the main entry points.
"""

from harness.dut.device import ChecksumRunner, ProtocolDevice, Runner, RunnerResult
from harness.dut.messages import ErrorCode, HelloInfo, InferResult, MsgType
from harness.dut.session import DutSession, UploadStats
from harness.dut.transport import open_link

__all__ = [
    "ChecksumRunner",
    "DutSession",
    "ErrorCode",
    "HelloInfo",
    "InferResult",
    "MsgType",
    "ProtocolDevice",
    "Runner",
    "RunnerResult",
    "UploadStats",
    "open_link",
]
