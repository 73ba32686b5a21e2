"""modelwatch's Python client: log a model's predictions and labels to modelwatch without slowing it.

    from modelwatch import Monitor
    mw = Monitor("http://127.0.0.1:8090", model="fraud")
    mw.log_prediction(id="req-42", features={"amount": 12.5}, score=0.93, latency_ms=4.2)
    mw.log_label(id="req-42", label=1)
    mw.close()
"""

__version__ = "0.1.0"

from ._monitor import Monitor  # noqa: E402  (the transport reads __version__)
from ._stats import Stats  # noqa: E402

__all__ = ["Monitor", "Stats", "__version__"]
