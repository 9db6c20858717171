"""Name what went wrong with a request, one short kind per failure, for the crawl statistics."""

from __future__ import annotations

from twisted.python.failure import Failure

# Exception class names (checked along the MRO) -> kind.
_KINDS = {
    "TimeoutError": "timeout",
    "TCPTimedOutError": "timeout",
    "DNSLookupError": "dns",
    "ConnectionRefusedError": "connection_refused",
    "ConnectError": "connection",
    "ConnectionLost": "connection_lost",
    "ConnectionDone": "connection_lost",
    "CancelledError": "cancelled",
    "DownloadTimeoutError": "timeout",
    "DownloadConnectionRefusedError": "connection_refused",
    "CannotResolveHostError": "dns",
}


def failure_kind(failure: Failure) -> str:
    """``timeout``, ``dns``, ``connection_refused``, ``truncated``, ``too_large``, ``robots_disallowed``…"""
    exc = failure.value
    message = str(exc)
    names = [cls.__name__ for cls in type(exc).__mro__]
    if "IgnoreRequest" in names:
        return "robots_disallowed" if "robots.txt" in message else "ignored"
    if "max size" in message or "maxsize" in message.lower() or "DownloadCancelledError" in names:
        return "too_large"
    if "DataLoss" in message or any("DataLoss" in n for n in names):
        return "truncated"
    if "ResponseFailed" in names or "ResponseNeverReceived" in names:
        inner = " ".join(repr(r) for r in getattr(exc, "reasons", []))
        if "DataLoss" in inner:
            return "truncated"
        if "TimeoutError" in inner:
            return "timeout"
        return "connection_lost"
    for name in names:
        if name in _KINDS:
            return _KINDS[name]
    return "other:" + type(exc).__name__
