"""Log scanning: line matching with a fast and a pure-Python engine, access logs, grouping.

``matcher`` finds the lines of a block of log text that match a set of case-insensitive
patterns, with Hyperscan when its wheel is installed and with ``bytes.find`` or ``re``
otherwise; both engines return the same lines. ``reader`` cuts files and streams into
blocks of whole lines with flat memory, ``scan`` counts and keeps the matching lines,
``grouping`` counts lines by message, and ``access_log`` parses nginx access logs.
"""
