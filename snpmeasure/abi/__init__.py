"""Byte layouts, declared once with construct, used both to parse and to build.

Each module keeps its declarations next to the specification table they come from; logic that
interprets the parsed values lives outside this package.
"""
