"""The embedded AWS emulator: moto's server in-process, plus what moto lacks (SES events, faults, a message log).

`start_emulator(host, port)` returns a running `Emulator`; `herald-emulator` runs one in the foreground.
"""

from herald_emulator.server import Emulator, start_emulator

__all__ = ["Emulator", "start_emulator"]
