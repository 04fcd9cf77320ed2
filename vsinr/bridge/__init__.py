"""The VapourSynth boundary: ctypes bindings of the API (``vsapi``), values in and out of VapourSynth
(``marshal``), the filters (``filters``) and the registration ``filters/vsinr_entry.c`` calls (``entry``)."""

from vsinr.bridge.entry import register

__all__ = ["register"]
