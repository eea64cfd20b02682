"""Tensor descriptions shared by model inspection, the DUT protocol and the runners."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# TFLite TensorType numbers (schema.fbs) <-> numpy dtype names. The DUT protocol
# carries the number; everything above it uses the name.
TFLITE_TYPE_TO_DTYPE: dict[int, str] = {
    0: "float32",
    2: "int32",
    3: "uint8",
    7: "int16",
    9: "int8",
}
DTYPE_TO_TFLITE_TYPE: dict[str, int] = {v: k for k, v in TFLITE_TYPE_TO_DTYPE.items()}


@dataclass(frozen=True)
class TensorSpec:
    """Shape, dtype and (affine, per-tensor) quantization of one model input or output."""

    dtype: str
    shape: tuple[int, ...]
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    def quantize(self, values: np.ndarray) -> np.ndarray:
        """Real values -> this tensor's dtype (identity cast for float tensors)."""
        if not self.quantized:
            return np.asarray(values, dtype=self.dtype).reshape(self.shape)
        info = np.iinfo(self.dtype)
        q = np.round(np.asarray(values, dtype=np.float64) / self.scale) + self.zero_point
        return np.clip(q, info.min, info.max).astype(self.dtype).reshape(self.shape)

    def dequantize(self, raw: np.ndarray) -> np.ndarray:
        """This tensor's dtype -> real values (float32)."""
        raw = np.asarray(raw)
        if not self.quantized:
            return raw.astype(np.float32)
        return ((raw.astype(np.float32) - self.zero_point) * self.scale).astype(np.float32)

    def from_bytes(self, data: bytes) -> np.ndarray:
        if len(data) != self.nbytes:
            raise ValueError(f"expected {self.nbytes} bytes for {self}, got {len(data)}")
        return np.frombuffer(data, dtype=np.dtype(self.dtype).newbyteorder("<")).reshape(
            self.shape
        )
