__version__ = "0.0.1"

# Known-harmless library noise, silenced where it is emitted (issue 24): on a CPU install bitsandbytes logs, at import,
# that the optional `kernels` package is absent ("Failed to load CPU gemm_4bit_forward"), then uses its own kernels.
import logging as _logging
_logging.getLogger('bitsandbytes.backends.cpu.ops').setLevel(_logging.ERROR)

# DeepSpeed, imported by accelerate / transformers when installed, warns on a machine with no GPU that it is "Setting
# accelerator to CPU" (deepspeed/accelerator/real_accelerator.py). With a CPU-only torch build that is the only choice
# there is; with a CUDA build the warning may mean a broken GPU setup, so it is kept there.
def _cpu_torch_accelerator_notice(record) -> bool:
    if not record.getMessage().startswith('Setting accelerator to CPU'): return True
    import torch
    return torch.version.cuda is not None
_logging.getLogger('DeepSpeed').addFilter(_cpu_torch_accelerator_notice)
