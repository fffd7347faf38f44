"""Perimeter wire protocol v1: shared, unchanged, by the node firmware and the gateway.

Runs on CPython 3.11+ and MicroPython. Import the submodules you need (`messages`, `body`,
`packet`, `keys`, `framing`); this file imports nothing so a node pays only for what it uses.
`protocol.schema` (construct) is CPython-only and never imported from here.
"""
