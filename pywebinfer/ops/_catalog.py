"""Imports every op family module so that their kernels register themselves.

One line per module: adding a family means adding its import here."""
from . import elementwise  # noqa: F401
from . import activation  # noqa: F401
from . import cast  # noqa: F401
from . import conv  # noqa: F401
from . import pool  # noqa: F401
from . import norm  # noqa: F401
from . import image  # noqa: F401
from . import shape  # noqa: F401
from . import indexing  # noqa: F401
from . import reduce  # noqa: F401
from . import matmul  # noqa: F401
from . import sequence  # noqa: F401
from . import control  # noqa: F401
from . import rnn  # noqa: F401
from . import quant  # noqa: F401
from . import detection  # noqa: F401
from . import random  # noqa: F401
from . import attention  # noqa: F401
from . import signal  # noqa: F401
from . import text  # noqa: F401
from . import ml  # noqa: F401
from . import training  # noqa: F401
from . import loss  # noqa: F401
from . import fused  # noqa: F401
