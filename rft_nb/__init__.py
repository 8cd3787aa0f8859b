__version__ = "0.0.1"

# Known-harmless library noise, silenced where it is emitted (issue 24): on a CPU install bitsandbytes logs, at import,
# that the optional `kernels` package is absent ("Failed to load CPU gemm_4bit_forward"), then uses its own kernels.
import logging as _logging
_logging.getLogger('bitsandbytes.backends.cpu.ops').setLevel(_logging.ERROR)
