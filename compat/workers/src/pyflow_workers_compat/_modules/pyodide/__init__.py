"""``pyodide``: only ``pyodide.ffi``'s conversions, as no-ops (see ``pyodide.ffi``)."""
