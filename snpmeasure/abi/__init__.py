"""Byte layouts, declared once with construct, used both to parse and to build.

Each module keeps its declarations next to the specification table they come from; logic that
interprets the parsed values lives outside this package. construct is slow to import, so each
module declares its layouts in a cached ``declarations()`` function and exposes them as module
attributes on first use; the runtime parses and builds with the struct codecs generated from
them (``codec.py``, ``codegen.py``).
"""


def lazy_layouts(declarations):
    """A module ``__getattr__`` that returns the layouts of ``declarations()`` by name."""

    def __getattr__(name: str):
        if name.startswith("__"):  # import machinery probes dunder names: not layouts
            raise AttributeError(name)
        layouts = declarations()
        if name in layouts:
            return layouts[name]
        raise AttributeError(f"no layout or attribute {name!r}")

    return __getattr__
