"""Array type aliases shared by the proofing modules."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

#: A decoded image: height x width x 3, BGR, ``uint8`` (OpenCV's layout).
Image: TypeAlias = npt.NDArray[np.uint8]
#: A single-channel ``uint8`` image.
Gray: TypeAlias = npt.NDArray[np.uint8]
#: Points as an ``(n, 2)`` float array of ``(x, y)`` pixel coordinates.
Points: TypeAlias = npt.NDArray[np.float32]
#: A face embedding: a 1-d ``float32`` vector of unit length.
Vector: TypeAlias = npt.NDArray[np.float32]
